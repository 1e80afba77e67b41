// The behaviour Flask-Admin's templates wire with inline handlers (onclick=…), which the Content-Security-
// Policy forbids: our template overrides mark the elements with data- attributes instead, and this file
// (loaded with the page's nonce) handles them by event delegation. Also: Chinese (or English) strings for
// select2 and the date picker, read from #ui-strings, which master.html renders in the page's language.
(function () {
  "use strict";

  function closest(target, selector) {
    return target && target.closest ? target.closest(selector) : null;
  }

  var strings = {};
  var holder = document.getElementById("ui-strings");
  if (holder) {
    try { strings = JSON.parse(holder.textContent); } catch (e) { strings = {}; }
  }

  document.addEventListener("click", function (event) {
    // Bulk actions (选中的 → 删除): Flask-Admin's actions.js does the work.
    var action = closest(event.target, "[data-model-action]");
    if (action) {
      event.preventDefault();
      if (window.modelActions) {
        window.modelActions.execute(action.getAttribute("data-model-action"));
      }
      return;
    }
    // Inline child forms (添加 计划事项 …).
    var add = closest(event.target, "[data-inline-add]");
    if (add) {
      event.preventDefault();
      if (window.faForm) {
        window.faForm.addInlineField(add, add.getAttribute("data-inline-add"));
      }
      return;
    }
    // Anything destructive asks first: buttons, links and submit buttons with data-confirm.
    var confirmed = closest(event.target, "[data-confirm]");
    if (confirmed && !window.confirm(confirmed.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
  });

  // Links that only open a menu (href="javascript:void(0)" in Flask-Admin's menu, "#" in ours): a
  // javascript: URL is refused by the CSP, and the multi-level menu script stops the click before
  // Bootstrap could cancel it, so cancel the navigation first, in the capture phase.
  document.addEventListener("click", function (event) {
    if (closest(event.target, 'a[href^="javascript:"], a[href="#"]')) {
      event.preventDefault();
    }
  }, true);

  // A form with data-confirm asks on submit too (Enter in a field submits without a click).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.hasAttribute && form.hasAttribute("data-confirm-submit")
        && !window.confirm(form.getAttribute("data-confirm-submit"))) {
      event.preventDefault();
    }
  });

  // Forms whose fields depend on a choice (职责调整: 调整方式): each field names the choices it belongs to
  // in data-show-for="add adjust"; the others are hidden. Without JavaScript every field stays visible.
  function syncDependent(select) {
    var form = select.form;
    if (!form) return;
    var value = select.value;
    var parts = form.querySelectorAll("[data-show-for]");
    for (var i = 0; i < parts.length; i++) {
      var wanted = parts[i].getAttribute("data-show-for").split(/\s+/);
      var show = value !== "" && wanted.indexOf(value) >= 0;
      parts[i].hidden = !show;
      var inputs = parts[i].querySelectorAll("input, select, textarea");
      for (var j = 0; j < inputs.length; j++) {
        inputs[j].disabled = !show;
      }
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-controls-fields")) {
      syncDependent(event.target);
    }
  });

  function whenReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  whenReady(function () {
    var selects = document.querySelectorAll("select[data-controls-fields]");
    for (var i = 0; i < selects.length; i++) {
      syncDependent(selects[i]);
    }
  });

  // select2 and the date picker: strings in the page's language, a date range that reaches back to the
  // oldest veterans, yyyy-mm-dd everywhere. Installed before form.js initialises its widgets (jQuery runs
  // ready callbacks in order, and this file is loaded before form.js).
  var $ = window.jQuery;
  if (!$) return;

  function localiseSelect2() {
    if (!$.fn.select2 || !$.fn.select2.defaults || !strings.select2) return;
    var s = strings.select2;
    $.extend($.fn.select2.defaults, {
      formatNoMatches: function () { return s.noMatches; },
      formatInputTooShort: function (input, min) { return s.inputTooShort.replace("{n}", min - input.length); },
      formatInputTooLong: function (input, max) { return s.inputTooLong.replace("{n}", input.length - max); },
      formatSelectionTooBig: function (limit) { return s.selectionTooBig.replace("{n}", limit); },
      formatLoadMore: function () { return s.loadMore; },
      formatSearching: function () { return s.searching; },
      formatAjaxError: function () { return s.ajaxError; }
    });
  }

  function localiseDatePicker() {
    var original = $.fn.daterangepicker;
    if (!original || original._localised || !strings.datepicker) return;
    var d = strings.datepicker;
    var wrapped = function (options, callback) {
      var opts = $.extend(true, {
        format: "YYYY-MM-DD",
        minDate: d.minDate,
        locale: {
          applyLabel: d.apply, cancelLabel: d.cancel, fromLabel: d.from, toLabel: d.to,
          weekLabel: d.week, customRangeLabel: d.custom,
          daysOfWeek: d.daysOfWeek, monthNames: d.monthNames, firstDay: 1
        }
      }, options || {});
      if (opts.separator === " to ") opts.separator = d.separator;
      return original.call(this, opts, callback);
    };
    wrapped._localised = true;
    $.fn.daterangepicker = wrapped;
  }

  // Date fields outside Flask-Admin's forms (hand-made screens) get the same picker.
  function hostedDatePickers() {
    if (window.faForm || !$.fn.daterangepicker) return;
    $("input[data-role=datepicker]").each(function () {
      $(this).daterangepicker({singleDatePicker: true, showDropdowns: true, timePicker: false,
        format: $(this).attr("data-date-format") || "YYYY-MM-DD"});
    });
  }

  localiseSelect2();
  $(function () {
    localiseSelect2();
    localiseDatePicker();
    hostedDatePickers();
  });
})();
