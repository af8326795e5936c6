// Ends the Domain Connect flow: a popup or tab opened by the Service Provider closes itself.
window.setTimeout(function () { window.close(); }, 1500);
