//! Server-rendered views (tera). Every page works without JavaScript; the only script ends
//! the flow by closing a popup.

use tera::{Context, Tera};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("done.html", include_str!("templates/done.html")),
    ("account.html", include_str!("templates/account.html")),
    ("grant.html", include_str!("templates/grant.html")),
];

/// The stylesheet, served at `/static/dcgw.css`.
pub const CSS: &str = include_str!("static/dcgw.css");
/// The close-the-popup script, served at `/static/close.js`.
pub const CLOSE_JS: &str = include_str!("static/close.js");

/// The compiled views.
pub struct Views {
    tera: Tera,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

impl Views {
    /// Compiles the embedded templates (autoescaping on for `.html`).
    pub fn new() -> Result<Views, String> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .map_err(|e| format!("views: {e}"))?;
        Ok(Views { tera })
    }

    /// Renders a view; a failure is an internal error (the templates are compiled in).
    pub fn render(&self, name: &str, ctx: &Context) -> Result<String, String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| format!("rendering {name}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_compile_and_escape() {
        let v = Views::new().expect("views");
        let mut ctx = Context::new();
        ctx.insert("provider_name", "<Registrar>");
        ctx.insert("base_path", "");
        ctx.insert("heading", "Done");
        ctx.insert("message", "<script>alert(1)</script>");
        let html = v.render("done.html", &ctx).expect("renders");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;Registrar&gt;"));
    }
}
