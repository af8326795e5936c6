// A real OpenID Provider for the login tests: the npm `oidc-provider` package (8.x), with one
// confidential client for the gateway, PKCE required, and a minimal sign-in page that asks
// only for a user name (the test decides who logs in). Users carry a custom claim listing
// their zones (scope `dcgw`), for the `claim` authorization.
//
// Environment: PORT (listen on 127.0.0.1), REDIRECT_URI (the gateway's callback),
// CLIENT_ID, CLIENT_SECRET, OIDC_PROVIDER_DIR (where node_modules/oidc-provider is).
// Prints "ready" on standard output once it listens.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.OIDC_PROVIDER_DIR;
const { default: Provider } = await import(
  pathToFileURL(path.join(dir, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = {
  alice: { sub: 'alice-sub', preferred_username: 'alice', email: 'alice@example.com', dcgw_zones: ['example.com'] },
  bob: { sub: 'bob-sub', preferred_username: 'bob', email: 'bob@example.org', dcgw_zones: ['example.org', '*'] },
  nameless: { sub: 'nameless-sub', dcgw_zones: ['example.com'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'email', 'dcgw'],
  claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], dcgw: ['dcgw_zones'] },
  // Put the scope's claims in the ID token (the gateway reads the ID token only).
  conformIdTokenClaims: false,
  pkce: { required: () => true, methods: ['S256'] },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['dcgw-test-cookie-key'] },
  async findAccount(_ctx, id) {
    const claims = accounts[id];
    return claims && { accountId: id, claims: async () => claims };
  },
});

function readBody(req) {
  return new Promise((resolve) => {
    let b = '';
    req.on('data', (c) => { b += c; });
    req.on('end', () => resolve(new URLSearchParams(b)));
  });
}

const callback = provider.callback();
http.createServer(async (req, res) => {
  try {
    if (req.url.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html');
        res.end(`<form method="post"><input name="login"><button>Sign in</button></form>`);
        return;
      }
      const login = (await readBody(req)).get('login');
      if (!accounts[login]) {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown user' });
        return;
      }
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } },
        { mergeWithLastSubmission: false });
      return;
    }
    callback(req, res);
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
}).listen(port, '127.0.0.1', () => console.log('ready'));
