// The segment builder's drag and drop, on the browser's native HTML5 drag-and-drop events.
//
// The page never changes the tree itself: dropping a palette item or a node posts an "add" or a
// "move" (the group and the position) to the server, which applies the edit to its JSON
// definition and answers with the re-rendered builder. The move buttons on every node do the same
// moves from the keyboard.
(() => {
  "use strict";

  const NODE_TYPE = "application/x-cdp-node";
  const PALETTE_TYPE = "application/x-cdp-palette";
  let dragged = null; // {element, node} for a node, {element, kind} for a palette item
  let pressed = null; // where the pointer went down: dragging starts from handles, not fields

  const builder = () => document.getElementById("builder");

  function clearMarks() {
    document
      .querySelectorAll(".drop-target, .drop-before, .drop-end")
      .forEach((el) => el.classList.remove("drop-target", "drop-before", "drop-end"));
  }

  // The group list a drop lands in: the innermost one under the pointer, never inside the
  // dragged group itself.
  function zoneFor(target) {
    if (!dragged || !target || !target.closest) return null;
    const zone = target.closest("#builder .dropzone");
    if (!zone) return null;
    if (dragged.node && dragged.element.contains(zone)) return null;
    return zone;
  }

  // The position among the group's nodes (the dragged node left out, as the server counts it).
  function placeIn(zone, y) {
    const items = Array.from(zone.children).filter(
      (el) => el.dataset.nodeId && el !== (dragged && dragged.element),
    );
    for (let index = 0; index < items.length; index++) {
      const box = items[index].getBoundingClientRect();
      if (y < box.top + box.height / 2) return { index, before: items[index] };
    }
    return { index: items.length, before: null };
  }

  document.addEventListener("pointerdown", (event) => { pressed = event.target; }, true);

  document.addEventListener("dragstart", (event) => {
    if (!event.target.closest) return;
    if (pressed && pressed.closest && pressed.closest("input, select, textarea, button, a")) {
      event.preventDefault(); // let fields and buttons keep their own mouse behaviour
      return;
    }
    const item = event.target.closest("[data-palette-kind]");
    const node = event.target.closest("#builder [data-node-id][draggable='true']");
    if (item) {
      dragged = { element: item, kind: item.dataset.paletteKind };
      event.dataTransfer.setData(PALETTE_TYPE, dragged.kind);
      event.dataTransfer.effectAllowed = "copy";
    } else if (node) {
      dragged = { element: node, node: node.dataset.nodeId };
      event.dataTransfer.setData(NODE_TYPE, dragged.node);
      event.dataTransfer.effectAllowed = "move";
    } else {
      return;
    }
    event.dataTransfer.setData("text/plain", dragged.kind || dragged.node);
    event.stopPropagation();
    requestAnimationFrame(() => dragged && dragged.element.classList.add("dragging"));
  });

  document.addEventListener("dragover", (event) => {
    const zone = zoneFor(event.target);
    clearMarks();
    if (!zone) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = dragged.kind ? "copy" : "move";
    zone.classList.add("drop-target");
    const place = placeIn(zone, event.clientY);
    if (place.before) place.before.classList.add("drop-before");
    else zone.classList.add("drop-end");
  });

  document.addEventListener("drop", (event) => {
    const zone = zoneFor(event.target);
    if (!zone) return;
    event.preventDefault();
    const place = placeIn(zone, event.clientY);
    const values = { parent: zone.dataset.groupId, position: String(place.index) };
    let url;
    if (dragged.kind) {
      url = builder().dataset.addUrl;
      values.kind = dragged.kind;
    } else {
      url = builder().dataset.moveUrl;
      values.node = dragged.node;
      values.to = "position";
    }
    clearMarks();
    // The zone carries hx-include (the draft) and hx-sync (one edit at a time).
    htmx.ajax("POST", url, { source: zone, target: "#builder", swap: "outerHTML", values });
  });

  document.addEventListener("dragend", () => {
    clearMarks();
    if (dragged) dragged.element.classList.remove("dragging");
    dragged = null;
  });

  // After an edit htmx puts focus back on the control that had it when that control still
  // exists; when it does not (a removed node, a move button now disabled), focus the node the
  // server names, so keyboard users stay where they were.
  document.addEventListener("htmx:afterSettle", () => {
    const current = builder();
    if (!current || !current.dataset.focus) return;
    const active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;
    const node = document.getElementById(`node-${current.dataset.focus}`);
    if (node) node.focus();
  });
})();
