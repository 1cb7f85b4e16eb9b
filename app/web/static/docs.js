/* The /docs page: Swagger UI (vendored in static/vendor/swagger-ui/) showing /openapi.json.
   A file of its own because the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";
  var holder = document.getElementById("swagger-ui");
  if (!holder || !window.SwaggerUIBundle) { return; }
  window.ui = window.SwaggerUIBundle({
    url: holder.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,  // the default validator is a remote service: stay offline
    tryItOutEnabled: false,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0
  });
})();
