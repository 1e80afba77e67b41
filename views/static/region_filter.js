// The region filter of the lists as a lookup: the page carries no region options (a province has ~2,000
// townships); a filter whose type is "region-lookup:<levels>" becomes a select2 field that asks
// /admin/region-lookup as the user types (regions inside the user's scope only).
(function ($) {
  "use strict";
  var groupsData = document.getElementById("filter-groups-data");
  var lookup = document.getElementById("region-filter-lookup");
  if (!groupsData || !lookup || !window.faForm) { return; }
  var url = lookup.getAttribute("data-url");
  var levelsByArg = {};
  var groups = JSON.parse(groupsData.textContent);
  Object.keys(groups).forEach(function (name) {
    groups[name].forEach(function (flt) {
      if (typeof flt.type === "string" && flt.type.indexOf("region-lookup:") === 0) {
        levelsByArg[String(flt.arg)] = flt.type.slice("region-lookup:".length);
      }
    });
  });

  function argOf(input) {  // inputs are named flt<n>_<arg>
    var match = /^flt\d+_(.+)$/.exec(input.name || "");
    return match ? match[1] : null;
  }

  function convert(input) {
    var arg = argOf(input);
    if (arg === null || !(arg in levelsByArg) || input.getAttribute("data-region-lookup")) { return; }
    input.setAttribute("data-region-lookup", "1");
    var $input = $(input);
    var levels = levelsByArg[arg];
    $input.attr("data-url", url + "?levels=" + encodeURIComponent(levels));
    $input.attr("data-minimum-input-length", "1");
    $input.attr("data-placeholder", lookup.getAttribute("data-placeholder") || "");
    $input.attr("data-json", "null");
    var start = function () { window.faForm.applyStyle($input, "select2-ajax"); };
    if (input.value) {  // an active filter: show its region's name
      fetch(url + "?id=" + encodeURIComponent(input.value), {credentials: "same-origin"})
        .then(function (resp) { return resp.ok ? resp.json() : []; })
        .then(function (rows) { if (rows.length) { $input.attr("data-json", JSON.stringify(rows[0])); } })
        .catch(function () {})
        .then(start);
    } else {
      start();
    }
  }

  function scan() {
    document.querySelectorAll("input.filter-val").forEach(convert);
  }

  scan();
  var table = document.querySelector(".filters");
  if (table && window.MutationObserver) {
    new MutationObserver(scan).observe(table, {childList: true, subtree: true});
  }
})(jQuery);
