// Progressive enhancement only: every page works without this file.
// Adds a "Copy link" button next to the patient's personal link.
(function () {
  "use strict";
  if (!navigator.clipboard || !document.querySelectorAll) {
    return;
  }
  var fields = document.querySelectorAll(".copy-field");
  Array.prototype.forEach.call(fields, function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button-secondary copy-button";
    button.textContent = "Copy link";
    var status = document.createElement("p");
    status.className = "hint copy-status";
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(
        function () {
          status.textContent = "The link is copied. Paste it somewhere safe.";
        },
        function () {
          input.select();
          status.textContent = "Press and hold (or right-click) the link to copy it.";
        }
      );
    });
    input.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", status);
  });
})();
