/* The /docs page: Swagger UI (vendored in static/vendor/swagger-ui/) showing /openapi.json.
   A file of its own because the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";
  var holder = document.getElementById("swagger-ui");
  if (!holder || !window.SwaggerUIBundle) { return; }
  // Signed in: the page carries the session's CSRF token. "Try it out" sends it (with the
  // session cookie, same origin) so the calls run as the signed-in user without a token.
  var csrf = holder.getAttribute("data-csrf");
  window.ui = window.SwaggerUIBundle({
    url: holder.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,  // the default validator is a remote service: stay offline
    tryItOutEnabled: false,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    requestInterceptor: function (request) {
      var sameSite = new URL(request.url, location.href).origin === location.origin;
      if (csrf && sameSite) {
        request.headers["X-CSRF-Token"] = csrf;
        request.credentials = "same-origin";
      }
      return request;
    }
  });
})();
