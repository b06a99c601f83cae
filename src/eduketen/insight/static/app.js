// Staff pages: the only script of our own. Sends the session's CSRF token with every htmx request
// (the token is in <body data-csrf>), so no inline script is needed under the CSP.
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.body.getAttribute("data-csrf");
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token;
  }
});
