// The branding editor's live checks (/admin/branding). No inline script anywhere: the page's CSP
// allows scripts from 'self' only, and this file is all the script the page has.
//
// * Each colour picker and the text field beside it stay in step (the text field is what the
//   form sends, so the page still works without this script).
// * Every checked pair of colours shows its WCAG 2.1 contrast ratio as you type, with a warning
//   under 4.5:1. The formula is the one of themes/colors.py (relative luminance of sRGB, linear
//   below 0.04045, ratio (L1 + 0.05) / (L2 + 0.05)), so the page warns exactly when the server
//   would refuse; the server checks again on save.
"use strict";

(function () {
  var form = document.getElementById("branding-form");
  if (!form) {
    return;
  }
  var REQUIRED = 4.5;
  var HEX6 = /^#([0-9a-f]{6})$/;
  var HEX3 = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/;
  var probe = document.createElement("canvas").getContext("2d");

  // Any CSS colour the browser understands, as opaque "#rrggbb"; null if it is not one.
  function toHex(raw) {
    var value = (raw || "").trim().toLowerCase();
    if (!value) {
      return null;
    }
    var short = HEX3.exec(value);
    if (short) {
      return "#" + short[1] + short[1] + short[2] + short[2] + short[3] + short[3];
    }
    if (HEX6.test(value)) {
      return value;
    }
    if (!probe || value.length > 100) {
      return null;
    }
    // The canvas normalises a colour it accepts and ignores one it does not: try two
    // different starting values, and only a colour both agree on is a real one.
    probe.fillStyle = "#000000";
    probe.fillStyle = value;
    var first = probe.fillStyle;
    probe.fillStyle = "#ffffff";
    probe.fillStyle = value;
    if (first !== probe.fillStyle || !HEX6.test(first)) {
      return null; // not a colour, or not an opaque one (the canvas writes rgba(...))
    }
    return first;
  }

  function channel(hex, index) {
    var c = parseInt(hex.substr(1 + index * 2, 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  }

  function luminance(hex) {
    return 0.2126 * channel(hex, 0) + 0.7152 * channel(hex, 1) + 0.0722 * channel(hex, 2);
  }

  function contrastRatio(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function textField(token) {
    return document.getElementById("token-" + token);
  }

  // The colour a token has now: its field, or the base theme's when the field is empty.
  function effective(token) {
    var field = textField(token);
    if (!field) {
      return null;
    }
    return field.value.trim() ? toHex(field.value) : toHex(field.getAttribute("data-base"));
  }

  function updatePair(row) {
    var fg = row.getAttribute("data-fg");
    var bg = row.getAttribute("data-bg");
    var a = effective(fg);
    var b = effective(bg);
    var ratioOut = row.querySelector("[data-role=ratio]");
    var warning = row.querySelector("[data-role=warning]");
    var sample = row.querySelector("[data-role=sample]");
    if (!a || !b) {
      ratioOut.textContent = "?";
      row.classList.remove("fail");
      warning.hidden = true;
      return;
    }
    var ratio = contrastRatio(a, b);
    // Rounded down, as the server reports it: a failing 4.499 never reads "4.50".
    ratioOut.textContent = (Math.floor(ratio * 100) / 100).toFixed(2) + ":1";
    var failing = ratio < REQUIRED;
    row.classList.toggle("fail", failing);
    warning.hidden = !failing;
    if (sample) {
      sample.style.color = a;
      sample.style.backgroundColor = b;
    }
  }

  function updateAll() {
    var rows = form.querySelectorAll("[data-role=pair]");
    for (var i = 0; i < rows.length; i++) {
      updatePair(rows[i]);
    }
  }

  var pickers = form.querySelectorAll("input[type=color][data-token]");
  for (var i = 0; i < pickers.length; i++) {
    (function (picker) {
      var field = textField(picker.getAttribute("data-token"));
      if (!field) {
        return;
      }
      picker.addEventListener("input", function () {
        field.value = picker.value;
        field.removeAttribute("aria-invalid");
        updateAll();
      });
      field.addEventListener("input", function () {
        var hex = effective(picker.getAttribute("data-token"));
        field.classList.toggle("unreadable", !hex);
        if (hex) {
          picker.value = hex;
        }
        updateAll();
      });
    })(pickers[i]);
  }
  updateAll();
})();
