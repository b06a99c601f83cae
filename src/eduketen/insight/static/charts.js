// Charts of the staff pages: every <div class="vl-chart" data-spec="ID"> gets the Vega-Lite spec
// in <script type="application/json" id="ID">. Vega runs with its expression interpreter (no eval,
// so the page's CSP stays script-src 'self'), renders to canvas, without actions menu or tooltips.
(function () {
  function draw() {
    if (!window.vegaEmbed || !window.vegaInterpreter) {
      return;
    }
    document.querySelectorAll(".vl-chart[data-spec]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-spec"));
      if (!source) {
        return;
      }
      var spec = JSON.parse(source.textContent);
      window.vegaEmbed(el, spec, {
        renderer: "canvas",
        actions: false,
        tooltip: false,
        defaultStyle: false,
        ast: true,
        expr: window.vegaInterpreter.expressionInterpreter
      }).then(function () {
        el.setAttribute("data-rendered", "true");
      }).catch(function (error) {
        el.setAttribute("data-error", String(error));
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
