/* As-you-type PHI check (progressive enhancement; the server checks again on submit).
 * Fields marked data-phi-check are sent to the check endpoint 600 ms after the member stops
 * typing; what may identify a patient is shown below each field, in an aria-live region (made
 * when the page loads, so screen readers announce what later appears in it), with
 * the same reason and suggestion the server's block page gives. No dependencies, no build. */
(function () {
  "use strict";
  var script = document.currentScript;
  // The endpoint sits two levels above this file (<root>/static/js/ -> <root>/phi/check).
  var url = script ? new URL("../../phi/check", script.src).href : "/phi/check";
  var DELAY = 600;
  var MAX_CHARACTERS = 60000;

  function regionFor(field) {
    var id = (field.id || field.name) + "-phi-live";
    var region = document.getElementById(id);
    if (!region) {
      region = document.createElement("div");
      region.id = id;
      region.className = "phi-live";
      region.setAttribute("aria-live", "polite");
      field.insertAdjacentElement("afterend", region);
      var described = field.getAttribute("aria-describedby");
      field.setAttribute("aria-describedby", described ? described + " " + id : id);
    }
    return region;
  }

  function show(field, findings) {
    var region = regionFor(field);
    region.textContent = "";
    if (!findings || !findings.length) { return; }
    var text = field.value;
    var heading = document.createElement("p");
    heading.className = "phi-live__title";
    heading.textContent = findings.some(function (f) { return f.action === "block"; })
      ? "This may identify a patient and would not be posted:"
      : "This may identify a patient; a moderator would check it before others see it:";
    var shown = document.createElement("p");
    shown.className = "phi-text";
    var position = 0;
    findings.slice().sort(function (a, b) { return a.start - b.start; }).forEach(function (f) {
      var start = Math.max(f.start, position);
      if (f.end <= start) { return; }
      shown.appendChild(document.createTextNode(text.slice(position, start)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(start, f.end);
      shown.appendChild(mark);
      position = f.end;
    });
    shown.appendChild(document.createTextNode(text.slice(position)));
    var reasons = document.createElement("ul");
    reasons.className = "phi-reasons";
    findings.forEach(function (f) {
      var item = document.createElement("li");
      var reason = document.createElement("strong");
      reason.textContent = f.reason;
      item.appendChild(reason);
      if (f.suggestion) { item.appendChild(document.createTextNode(" " + f.suggestion)); }
      reasons.appendChild(item);
    });
    region.appendChild(heading);
    region.appendChild(shown);
    region.appendChild(reasons);
  }

  // Poll options share one name, so fields are told apart by id where they have one.
  function keyOf(field) { return field.id || field.name; }

  function watch(form) {
    var fields = Array.prototype.slice.call(form.querySelectorAll("[data-phi-check]"));
    var tokenInput = form.querySelector("input[name='csrf_token']");
    var timer = null;
    var sequence = 0;

    function check() {
      var draft = {};
      var total = 0;
      fields.forEach(function (field) {
        draft[keyOf(field)] = field.value;
        total += field.value.length;
      });
      if (total > MAX_CHARACTERS || !window.fetch) { return; }
      var mine = ++sequence;
      var sent = fields.map(function (field) { return field.value; });
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": tokenInput ? tokenInput.value : ""
        },
        body: JSON.stringify({ fields: draft })
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (data) {
        if (!data || mine !== sequence) { return; }
        fields.forEach(function (field, index) {
          // The member kept typing: offsets would point at the wrong text, so wait for the next.
          if (field.value !== sent[index]) { return; }
          show(field, data.findings[keyOf(field)]);
        });
      }).catch(function () { /* the server check on submit still applies */ });
    }

    fields.forEach(function (field) {
      regionFor(field); // in place and empty before anything is announced in it
      field.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(check, DELAY);
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    if (form.querySelector("[data-phi-check]")) { watch(form); }
  });
})();
