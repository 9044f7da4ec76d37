// bgart painting surface: plate, paint layer, inpaint mask (translucent overlay) and retake
// marks on one HTML canvas. Plain Canvas 2D, no dependency (docs/ui-canvas.md says why).
// Installed once per page as window.bgartCanvas; mounts into #bgart-canvas when it appears.
// Python talks to it through hidden components (ui/canvas/widgets.py); drafts of unsaved
// strokes live in the browser's IndexedDB, keyed by project and shot.
(() => {
  if (window.bgartCanvas) return;
  const MASK_RGB = [255, 0, 255];
  const HISTORY_LIMIT = 60; // strokes per shot
  const HISTORY_BYTES = 256 * 1024 * 1024; // all shots together
  const TICK_MS = 1000; // a long stroke counts as an edit every second

  const S = {
    root: null, stage: null, view: null, info: null, ui: {},
    plate: null, paint: null, mask: null, stroke: null, scratch: null,
    width: 0, height: 0, project: null, shot: null, version: null,
    zoom: 1, panX: 0, panY: 0, fitted: false, full: false,
    tool: "brush", layer: "paint", colour: "#c0392b",
    size: 12, opacity: 1, hardness: 0.8, maskAlpha: 0.45, pressure: true,
    spaceDown: false, drag: null, strokeOn: false, last: null, box: null, lastTick: 0,
    history: new Map(), times: new Map(), marks: new Map(), dirty: { paint: false, mask: false },
    note: "", draftTimer: null, draftPending: false, loading: Promise.resolve(), pending: 0,
  };

  // ---------------------------------------------------------------- drafts (IndexedDB)
  let dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const req = indexedDB.open("bgart-canvas", 1);
        req.onupgradeneeded = () => req.result.createObjectStore("drafts");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbPromise;
  }
  async function idb(mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const tx = d.transaction("drafts", mode);
      const r = fn(tx.objectStore("drafts"));
      tx.oncomplete = () => resolve(r && r.result);
      tx.onerror = () => reject(tx.error);
    });
  }
  const draftKey = (project, shot) => `${project}|${shot}`;
  const toBlob = (c) => new Promise((res) => c.toBlob(res, "image/png"));

  async function writeDraft() {
    S.draftPending = false;
    if (!S.shot || !S.paint) return;
    const key = draftKey(S.project, S.shot);
    if (!S.dirty.paint && !S.dirty.mask) {
      await idb("readwrite", (st) => st.delete(key));
      return;
    }
    const rec = {
      version: S.version, width: S.width, height: S.height, at: Date.now(),
      paint: S.dirty.paint ? await toBlob(S.paint) : null,
      mask: S.dirty.mask ? await toBlob(S.mask) : null,
      times: S.times.get(S.shot) || { paint: [], mask: [] },
    };
    await idb("readwrite", (st) => st.put(rec, key));
  }
  function scheduleDraft() {
    S.draftPending = true;
    clearTimeout(S.draftTimer);
    S.draftTimer = setTimeout(() => writeDraft().catch(console.error), 250);
  }
  async function flushDraft() {
    clearTimeout(S.draftTimer);
    if (S.draftPending || S.dirty.paint || S.dirty.mask) await writeDraft();
  }
  async function readDraft(project, shot) {
    const req = await idb("readonly", (st) => st.get(draftKey(project, shot)));
    return req || null;
  }

  // ---------------------------------------------------------------- layers and history
  function layerCanvas(w, h) {
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    return c;
  }
  const ctx2d = (c) => c.getContext("2d", { willReadFrequently: true });
  function hist() {
    if (!S.history.has(S.shot)) S.history.set(S.shot, { undo: [], redo: [] });
    return S.history.get(S.shot);
  }
  function editTimes() {
    if (!S.times.has(S.shot)) S.times.set(S.shot, { paint: [], mask: [] });
    return S.times.get(S.shot);
  }
  function historyBytes() {
    let n = 0;
    for (const h of S.history.values()) for (const e of [...h.undo, ...h.redo]) n += e.before.data.length * 2;
    return n;
  }
  function pushHistory(entry) {
    const h = hist();
    h.undo.push(entry);
    h.redo = [];
    if (h.undo.length > HISTORY_LIMIT) h.undo.shift();
    while (historyBytes() > HISTORY_BYTES && h.undo.length > 1) h.undo.shift();
  }
  function layerHasContent(c) {
    const d = ctx2d(c).getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
    return false;
  }
  function applyPatch(entry, which) {
    const c = entry.layer === "mask" ? S.mask : S.paint;
    ctx2d(c).putImageData(entry[which], entry.x, entry.y);
    S.dirty[entry.layer] = layerHasContent(c);
    scheduleDraft();
    render();
  }
  function undo() {
    const h = hist(), e = h.undo.pop();
    if (!e) return;
    h.redo.push(e);
    applyPatch(e, "before");
    say(`undo (${h.undo.length} left)`);
  }
  function redo() {
    const h = hist(), e = h.redo.pop();
    if (!e) return;
    h.undo.push(e);
    applyPatch(e, "after");
    say("redo");
  }

  // ---------------------------------------------------------------- view: fit, zoom, pan
  function sizeStage() {
    if (!S.stage) return;
    const top = S.full ? S.stage.getBoundingClientRect().top : S.stage.getBoundingClientRect().top + window.scrollY;
    const below = (S.info ? S.info.offsetHeight : 16) + (S.full ? 8 : 14); // the info line stays in view
    const h = Math.max(S.full ? 120 : 320, window.innerHeight - top - below);
    S.stage.style.height = `${h}px`;
    const r = S.stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    if (r.width < 2) return;
    S.view.width = Math.round(r.width * dpr);
    S.view.height = Math.round(r.height * dpr);
    S.scratch.width = S.view.width;
    S.scratch.height = S.view.height;
    if (!S.fitted && S.width) fit();
    render();
  }
  function fit() {
    if (!S.stage) return;
    const r = S.stage.getBoundingClientRect();
    if (!S.width || r.width < 2) return;
    S.zoom = Math.min(r.width / S.width, r.height / S.height) * 0.98;
    S.panX = (r.width - S.width * S.zoom) / 2;
    S.panY = (r.height - S.height * S.zoom) / 2;
    S.fitted = true;
    render();
  }
  function zoomAt(factor, sx, sy) {
    const z = Math.min(32, Math.max(0.02, S.zoom * factor));
    S.panX = sx - ((sx - S.panX) * z) / S.zoom;
    S.panY = sy - ((sy - S.panY) * z) / S.zoom;
    S.zoom = z;
    render();
  }
  function toPlate(e) {
    const r = S.view.getBoundingClientRect();
    return { x: (e.clientX - r.left - S.panX) / S.zoom, y: (e.clientY - r.top - S.panY) / S.zoom };
  }

  let frame = 0;
  function render() {
    if (frame) return;
    frame = requestAnimationFrame(draw);
  }
  function drawLayer(ctx, layer, name, alpha) {
    const sc = S.scratch.getContext("2d"), dpr = window.devicePixelRatio || 1;
    sc.setTransform(1, 0, 0, 1, 0, 0);
    sc.clearRect(0, 0, S.scratch.width, S.scratch.height);
    sc.setTransform(dpr * S.zoom, 0, 0, dpr * S.zoom, dpr * S.panX, dpr * S.panY);
    sc.imageSmoothingEnabled = S.zoom < 2;
    sc.drawImage(layer, 0, 0);
    if (S.strokeOn && S.layer === name) {
      sc.globalAlpha = name === "mask" ? 1 : S.opacity;
      sc.globalCompositeOperation = S.tool === "eraser" ? "destination-out" : "source-over";
      sc.drawImage(S.stroke, 0, 0);
      sc.globalAlpha = 1;
      sc.globalCompositeOperation = "source-over";
    }
    ctx.globalAlpha = alpha;
    ctx.drawImage(S.scratch, 0, 0);
    ctx.globalAlpha = 1;
  }
  function draw() {
    frame = 0;
    if (!S.view) return;
    const ctx = S.view.getContext("2d"), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#3a3a3a";
    ctx.fillRect(0, 0, S.view.width, S.view.height);
    if (!S.plate) {
      ctx.fillStyle = "#ddd";
      ctx.font = `${14 * dpr}px sans-serif`;
      ctx.fillText("No plate yet: generate and pick a variation first.", 16 * dpr, 28 * dpr);
      return;
    }
    ctx.setTransform(dpr * S.zoom, 0, 0, dpr * S.zoom, dpr * S.panX, dpr * S.panY);
    ctx.imageSmoothingEnabled = S.zoom < 2;
    ctx.drawImage(S.plate, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    drawLayer(ctx, S.paint, "paint", 1);
    drawLayer(ctx, S.mask, "mask", S.maskAlpha);
    drawMarks(ctx, dpr);
    updateInfo();
  }
  function drawMarks(ctx, dpr) {
    const marks = S.marks.get(S.shot) || [];
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineWidth = 2;
    ctx.font = "13px sans-serif";
    marks.forEach((m, i) => {
      const pts = m.points || (m.w !== undefined
        ? [[m.x, m.y], [m.x + m.w, m.y], [m.x + m.w, m.y + m.h], [m.x, m.y + m.h], [m.x, m.y]]
        : []);
      if (!pts.length) return;
      ctx.strokeStyle = "#ff3b30";
      ctx.fillStyle = "rgba(255,59,48,0.12)";
      ctx.beginPath();
      pts.forEach(([x, y], k) => {
        const sx = S.panX + x * S.zoom, sy = S.panY + y * S.zoom;
        if (k) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy);
      });
      ctx.fill();
      ctx.stroke();
      const [x0, y0] = pts[0];
      const label = `${i + 1}. ${m.comment || ""}`.trim();
      const tx = S.panX + x0 * S.zoom, ty = S.panY + y0 * S.zoom - 6;
      const w = ctx.measureText(label).width + 8;
      ctx.fillStyle = "rgba(255,59,48,0.9)";
      ctx.fillRect(tx, ty - 15, w, 18);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, tx + 4, ty - 1);
    });
  }

  // ---------------------------------------------------------------- painting
  function brushRGB() {
    if (S.layer === "mask") return MASK_RGB;
    const h = S.colour.replace("#", "");
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  }
  function dab(x, y, pressure) {
    const r = Math.max(0.5, (S.size / 2) * pressure);
    const c = S.stroke.getContext("2d"), [R, G, B] = brushRGB();
    if (S.hardness >= 0.99 || r < 1.5) {
      c.fillStyle = `rgb(${R},${G},${B})`;
    } else {
      const g = c.createRadialGradient(x, y, 0, x, y, r);
      g.addColorStop(0, `rgba(${R},${G},${B},1)`);
      g.addColorStop(Math.max(0, Math.min(0.99, S.hardness)), `rgba(${R},${G},${B},1)`);
      g.addColorStop(1, `rgba(${R},${G},${B},0)`);
      c.fillStyle = g;
    }
    c.beginPath();
    c.arc(x, y, r, 0, Math.PI * 2);
    c.fill();
    const b = S.box;
    b.x0 = Math.min(b.x0, x - r - 1); b.y0 = Math.min(b.y0, y - r - 1);
    b.x1 = Math.max(b.x1, x + r + 1); b.y1 = Math.max(b.y1, y + r + 1);
  }
  function pressureOf(e) {
    // a mouse reports 0.5 while a button is down: full pressure; a pen its real pressure
    if (!S.pressure || e.pointerType === "mouse") return 1;
    return e.pressure > 0 ? Math.max(0.05, e.pressure) : 1;
  }
  function strokeTo(e) {
    const p = toPlate(e), pr = pressureOf(e), last = S.last;
    const step = Math.max(0.5, (S.size * Math.min(pr, last.p)) * 0.12);
    const dist = Math.hypot(p.x - last.x, p.y - last.y);
    const n = Math.max(1, Math.ceil(dist / step));
    for (let i = 1; i <= n; i++) {
      const t = i / n;
      dab(last.x + (p.x - last.x) * t, last.y + (p.y - last.y) * t, last.p + (pr - last.p) * t);
    }
    S.last = { x: p.x, y: p.y, p: pr };
    const now = Date.now();
    if (now - S.lastTick > TICK_MS) {
      editTimes()[S.layer].push(now);
      S.lastTick = now;
    }
  }
  function beginStroke(e) {
    const sc = S.stroke.getContext("2d");
    sc.clearRect(0, 0, S.width, S.height);
    const p = toPlate(e);
    S.box = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
    S.last = { x: p.x, y: p.y, p: pressureOf(e) };
    S.strokeOn = true;
    S.lastTick = Date.now();
    editTimes()[S.layer].push(S.lastTick);
    dab(p.x, p.y, S.last.p);
    render();
  }
  function endStroke() {
    if (!S.strokeOn) return;
    S.strokeOn = false;
    const b = S.box;
    const x = Math.max(0, Math.floor(b.x0)), y = Math.max(0, Math.floor(b.y0));
    const w = Math.min(S.width, Math.ceil(b.x1)) - x, h = Math.min(S.height, Math.ceil(b.y1)) - y;
    editTimes()[S.layer].push(Date.now());
    if (w <= 0 || h <= 0) return render();
    const target = S.layer === "mask" ? S.mask : S.paint, c = ctx2d(target);
    const before = c.getImageData(x, y, w, h);
    c.globalAlpha = S.layer === "mask" ? 1 : S.opacity;
    c.globalCompositeOperation = S.tool === "eraser" ? "destination-out" : "source-over";
    c.drawImage(S.stroke, x, y, w, h, x, y, w, h);
    c.globalAlpha = 1;
    c.globalCompositeOperation = "source-over";
    pushHistory({ layer: S.layer, x, y, before, after: c.getImageData(x, y, w, h) });
    S.dirty[S.layer] = S.tool === "eraser" ? layerHasContent(target) : true;
    scheduleDraft();
    render();
  }
  function pick(e) {
    const p = toPlate(e), x = Math.floor(p.x), y = Math.floor(p.y);
    if (x < 0 || y < 0 || x >= S.width || y >= S.height) return;
    const b = ctx2d(S.plate).getImageData(x, y, 1, 1).data;
    const t = ctx2d(S.paint).getImageData(x, y, 1, 1).data, a = t[3] / 255;
    const rgb = [0, 1, 2].map((i) => Math.round(t[i] * a + b[i] * (1 - a)));
    setColour("#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join(""));
    setTool("brush");
  }

  // ---------------------------------------------------------------- pointer and keys
  function onPointerDown(e) {
    if (!S.plate) return;
    try { S.view.setPointerCapture(e.pointerId); } catch (_) { /* a synthetic pointer */ }
    if (e.button === 1 || S.spaceDown || S.tool === "pan") {
      S.drag = { x: e.clientX, y: e.clientY, panX: S.panX, panY: S.panY };
      S.view.style.cursor = "grabbing";
      return;
    }
    if (e.button !== 0) return;
    if (S.tool === "picker") return pick(e);
    beginStroke(e);
  }
  function onPointerMove(e) {
    if (S.drag) {
      S.panX = S.drag.panX + e.clientX - S.drag.x;
      S.panY = S.drag.panY + e.clientY - S.drag.y;
      return render();
    }
    if (!S.strokeOn) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) strokeTo(ev);
    render();
  }
  function onPointerUp(e) {
    if (S.drag) {
      S.drag = null;
      S.view.style.cursor = S.spaceDown ? "grab" : "crosshair";
      return;
    }
    if (S.strokeOn) {
      strokeTo(e);
      endStroke();
    }
  }
  function onWheel(e) {
    e.preventDefault();
    const r = S.view.getBoundingClientRect();
    zoomAt(Math.pow(1.0015, -e.deltaY), e.clientX - r.left, e.clientY - r.top);
  }
  function typing(e) {
    const t = e.target;
    return t && (t.tagName === "TEXTAREA" || t.isContentEditable ||
      (t.tagName === "INPUT" && !["range", "checkbox", "color", "button"].includes(t.type)));
  }
  function onKeyDown(e) {
    // the Retouch tab is hidden (a fixed, full-window canvas has no offsetParent)
    if (!S.root || !(S.full || S.root.offsetParent) || typing(e)) return;
    const k = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && k === "z") { e.preventDefault(); return e.shiftKey ? redo() : undo(); }
    if ((e.ctrlKey || e.metaKey) && k === "y") { e.preventDefault(); return redo(); }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (k === " ") {
      e.preventDefault();
      if (!S.spaceDown) { S.spaceDown = true; S.view.style.cursor = "grab"; }
      return;
    }
    const acts = {
      b: () => setTool("brush"), e: () => setTool("eraser"), i: () => setTool("picker"),
      m: () => setLayer(S.layer === "mask" ? "paint" : "mask"),
      "[": () => setSize(S.size / 1.25), "]": () => setSize(S.size * 1.25), 0: fit,
      f: () => setFull(!S.full),
    };
    if (k === "escape" && S.full) return setFull(false);
    if (acts[k]) { e.preventDefault(); acts[k](); }
  }
  function onKeyUp(e) {
    if (e.key === " " && S.spaceDown) {
      e.preventDefault(); // a focused toolbar button is not pressed by the pan key
      S.spaceDown = false;
      if (S.view) S.view.style.cursor = "crosshair";
    }
  }

  // ---------------------------------------------------------------- toolbar
  function el(tag, attrs = {}, kids = []) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else if (k === "text") n.textContent = v;
      else n.setAttribute(k, v);
    }
    for (const kid of kids) n.append(kid);
    return n;
  }
  function slider(id, label, min, max, step, value, set) {
    const input = el("input", { type: "range", id, min, max, step, value, title: label });
    const out = el("span", { class: "bgc-val", id: `${id}-val` });
    input.addEventListener("input", () => set(parseFloat(input.value)));
    S.ui[id] = { input, out };
    return el("label", { class: "bgc-slider" }, [label, input, out]);
  }
  function setTool(t) { S.tool = t; updateInfo(); }
  function setLayer(l) { S.layer = l; updateInfo(); }
  function setSize(v) { S.size = Math.max(1, Math.min(1000, Math.round(v))); updateInfo(); }
  function setColour(c) { S.colour = c; updateInfo(); }
  function updateInfo() {
    if (!S.root) return;
    for (const [t, b] of Object.entries(S.ui.tools)) b.classList.toggle("on", S.tool === t);
    for (const [l, b] of Object.entries(S.ui.layers)) b.classList.toggle("on", S.layer === l);
    const vals = { "bgc-size": S.size, "bgc-opacity": S.opacity, "bgc-hardness": S.hardness, "bgc-mask-alpha": S.maskAlpha };
    for (const [id, v] of Object.entries(vals)) {
      S.ui[id].input.value = v;
      setText(S.ui[id].out, id === "bgc-size" ? `${v}px` : `${Math.round(v * 100)}%`);
    }
    S.ui.colour.value = S.colour;
    const h = S.shot ? hist() : { undo: [], redo: [] };
    S.ui.undo.disabled = !h.undo.length;
    S.ui.redo.disabled = !h.redo.length;
    let text = S.shot
      ? `${S.shot} · v${S.version ?? "–"} · ${S.width}×${S.height} · ${Math.round(S.zoom * 100)}%` +
        (S.dirty.paint || S.dirty.mask ? " · unsaved strokes (kept as a draft)" : "") +
        (S.note ? ` · ${S.note}` : "")
      : "Open a shot to paint on it.";
    if (S.full && pageStatus()) text += `  —  ${pageStatus()}`;
    setText(S.info, text);
    S.root.dataset.shot = S.shot || "";
    S.root.dataset.version = S.version ?? "";
  }
  function say(text) { S.note = text; updateInfo(); }
  // only a real change touches the DOM: each one is a mutation the page observer hears
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  // full window: the canvas covers the page (the page's buttons are reached from the toolbar
  // and the page's status line is shown under the canvas)
  function setFull(on) {
    S.full = on;
    S.root.classList.toggle("bgc-full", on);
    S.fitted = false;
    sizeStage();
  }
  function clickOf(id) {
    const b = document.querySelector(`#${id}`);
    if (b) b.click();
  }
  function pageStatus() {
    const st = document.querySelector("#status-line");
    return st ? st.innerText.trim() : "";
  }

  function mount(host) {
    S.root = host;
    host.innerHTML = "";
    const tool = (t, label, key) => el("button", { type: "button", class: "bgc-btn", id: `bgc-${t}`, title: `${label} (${key === "␣" ? "Space" : key})`, text: `${label} ${key}`, onclick: () => setTool(t) });
    S.ui.tools = { brush: tool("brush", "Brush", "B"), eraser: tool("eraser", "Eraser", "E"), picker: tool("picker", "Eyedropper", "I"), pan: tool("pan", "Pan", "␣") };
    const layer = (l, label) => el("button", { type: "button", class: "bgc-btn", id: `bgc-layer-${l}`, text: label, onclick: () => setLayer(l) });
    S.ui.layers = { paint: layer("paint", "Paint layer"), mask: layer("mask", "AI-fix mask M") };
    S.ui.colour = el("input", { type: "color", id: "bgc-colour", title: "Colour", value: S.colour, oninput: (e) => setColour(e.target.value) });
    S.ui.undo = el("button", { type: "button", class: "bgc-btn", id: "bgc-undo", title: "Undo (Ctrl+Z)", text: "↶", onclick: undo });
    S.ui.redo = el("button", { type: "button", class: "bgc-btn", id: "bgc-redo", title: "Redo (Ctrl+Shift+Z)", text: "↷", onclick: redo });
    const pressure = el("input", { type: "checkbox", id: "bgc-pressure", checked: "" });
    pressure.addEventListener("change", () => { S.pressure = pressure.checked; });
    const bar = el("div", { class: "bgc-bar" }, [
      ...Object.values(S.ui.tools), S.ui.colour,
      slider("bgc-size", "Size", 1, 300, 1, S.size, setSize),
      slider("bgc-opacity", "Opacity", 0.05, 1, 0.05, S.opacity, (v) => { S.opacity = v; updateInfo(); }),
      slider("bgc-hardness", "Hardness", 0, 1, 0.05, S.hardness, (v) => { S.hardness = v; updateInfo(); }),
      el("label", { class: "bgc-slider", title: "Pen pressure sets the brush size" }, [pressure, "Pressure"]),
      ...Object.values(S.ui.layers),
      slider("bgc-mask-alpha", "Mask", 0.1, 0.9, 0.05, S.maskAlpha, (v) => { S.maskAlpha = v; render(); updateInfo(); }),
      S.ui.undo, S.ui.redo,
      el("button", { type: "button", class: "bgc-btn", id: "bgc-fit", title: "Fit (0)", text: "Fit", onclick: fit }),
      el("button", { type: "button", class: "bgc-btn", id: "bgc-full", title: "Full window (F, Esc leaves)", text: "Full window F", onclick: () => setFull(!S.full) }),
      el("button", { type: "button", class: "bgc-btn bgc-full-only", id: "bgc-save", text: "Save paint", onclick: () => clickOf("save-paint") }),
      el("button", { type: "button", class: "bgc-btn bgc-full-only", id: "bgc-fix", title: "AI fix with the prompt beside the canvas", text: "AI fix", onclick: () => clickOf("fix-btn") }),
      el("button", { type: "button", class: "bgc-btn", id: "bgc-100", title: "100 %", text: "1:1", onclick: () => {
        const r = S.stage.getBoundingClientRect(); zoomAt(1 / S.zoom, r.width / 2, r.height / 2);
      } }),
    ]);
    S.view = el("canvas", { id: "bgc-view", tabindex: "0" });
    S.view.style.cursor = "crosshair";
    S.stage = el("div", { class: "bgc-stage", id: "bgc-stage" }, [S.view]);
    S.info = el("div", { class: "bgc-info", id: "bgc-info" });
    host.append(bar, S.stage, S.info);
    S.scratch = document.createElement("canvas");
    S.view.addEventListener("pointerdown", onPointerDown);
    S.view.addEventListener("pointermove", onPointerMove);
    S.view.addEventListener("pointerup", onPointerUp);
    S.view.addEventListener("pointercancel", onPointerUp);
    S.view.addEventListener("wheel", onWheel, { passive: false });
    S.view.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(sizeStage).observe(S.stage);
    window.addEventListener("resize", sizeStage);
    updateInfo();
    sizeStage();
  }

  // ---------------------------------------------------------------- loading plates
  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`cannot load the plate ${url}`));
      img.src = url;
    });
  }
  async function drawBlob(blob, target) {
    if (!blob) return false;
    const bmp = await createImageBitmap(blob);
    ctx2d(target).drawImage(bmp, 0, 0);
    return true;
  }
  async function doLoad(view, file) {
    if (!view) return;
    if (typeof view === "string") view = JSON.parse(view);
    const url = file && (file.url || (file.value && file.value.url));
    // the view and the plate file arrive as two changes: act once both are here
    if (view.version !== null && !url) return;
    if (view.nonce === S.nonce && url === S.url) return;
    S.nonce = view.nonce; S.url = url;
    const sameShot = view.shot === S.shot && view.project === S.project;
    if (!view.shot || !url) { // no plate yet: nothing to paint on
      if (S.shot) await flushDraft().catch(console.error);
      Object.assign(S, { project: view.project, shot: view.shot || null, version: null, plate: null,
        paint: null, mask: null, width: 0, height: 0 });
      S.dirty = { paint: false, mask: false };
      return render();
    }
    const img = await loadImage(url);
    const w = img.naturalWidth, h = img.naturalHeight;
    const plate = layerCanvas(w, h);
    ctx2d(plate).drawImage(img, 0, 0);
    const resized = w !== S.width || h !== S.height;
    // the strokes on the canvas are written down before it shows another shot or size
    if (S.shot && S.paint && (!sameShot || resized)) await flushDraft().catch(console.error);
    S.project = view.project; S.shot = view.shot; S.version = view.version;
    S.plate = plate;
    if (!sameShot || resized || !S.paint) {
      S.paint = layerCanvas(w, h); S.mask = layerCanvas(w, h); S.stroke = layerCanvas(w, h);
      S.width = w; S.height = h; S.fitted = false;
      S.dirty = { paint: false, mask: false };
      S.note = "";
      const d = await readDraft(view.project, view.shot).catch(() => null);
      if (d && d.width === w && d.height === h) {
        S.dirty.paint = await drawBlob(d.paint, S.paint);
        S.dirty.mask = await drawBlob(d.mask, S.mask);
        if (d.times) S.times.set(S.shot, d.times);
        if (S.dirty.paint || S.dirty.mask) S.note = `draft restored (unsaved strokes made over v${d.version})`;
      } else {
        S.history.delete(S.shot); S.times.delete(S.shot); // strokes of another size
        if (d && (d.paint || d.mask)) { // not lost: set aside under their own size
          const aside = `${draftKey(view.project, view.shot)}|${d.width}x${d.height}`;
          await idb("readwrite", (st) => st.put(d, aside)).catch(console.error);
          S.note = `a draft made over v${d.version} (${d.width}×${d.height}) does not fit this ` +
            `${w}×${h} plate: it is kept aside in this browser`;
        }
      }
    }
    for (const l of view.clear || []) { // strokes just recorded on the server
      ctx2d(l === "mask" ? S.mask : S.paint).clearRect(0, 0, w, h);
      S.dirty[l] = false;
      editTimes()[l] = [];
      const h2 = hist();
      h2.undo = h2.undo.filter((e) => e.layer !== l);
      h2.redo = h2.redo.filter((e) => e.layer !== l);
      S.note = l === "paint" ? "paint saved" : "mask used by the AI fix";
    }
    if (!S.fitted) fit();
    scheduleDraft();
    render();
  }
  function load(view, file) {
    S.pending += 1;
    S.loading = S.loading.then(() => doLoad(view, file))
      .catch((e) => { console.error(e); say(String(e.message || e)); })
      .finally(() => { S.pending -= 1; });
    return S.loading;
  }

  // ---------------------------------------------------------------- what Python reads
  function payload(layerName) {
    if (!S.shot || !S.paint) return "";
    const target = layerName === "mask" ? S.mask : S.paint;
    const now = Date.now(), times = editTimes()[layerName] || [];
    return JSON.stringify({
      shot: S.shot, version: S.version, empty: !layerHasContent(target),
      layer: target.toDataURL("image/png"),
      ages: times.map((t) => Math.max(0, (now - t) / 1000)),
    });
  }
  function showMarks(marks, shot) {
    const list = typeof marks === "string" ? JSON.parse(marks || "[]") : (marks || []);
    S.marks.set(shot || S.shot, Array.isArray(list) ? list : []);
    render();
  }

  window.addEventListener("keydown", onKeyDown);
  window.addEventListener("keyup", onKeyUp);
  window.addEventListener("beforeunload", (e) => {
    if (S.draftPending) { writeDraft(); e.preventDefault(); e.returnValue = ""; }
  });
  const style = document.createElement("style");
  style.textContent = typeof BGART_CANVAS_CSS === "string" ? BGART_CANVAS_CSS : "";
  document.head.append(style);
  const tryMount = () => {
    const host = document.getElementById("bgart-canvas");
    if (host && host !== S.root) mount(host);
  };
  new MutationObserver(() => { tryMount(); if (S.full) updateInfo(); })
    .observe(document.body, { childList: true, subtree: true, characterData: true });
  tryMount();

  window.bgartCanvas = {
    load, payload, showMarks, undo, redo, fit, flushDraft,
    clearMarks: (shot) => showMarks([], shot),
    setTool, setLayer, setSize, setColour,
    state: () => ({
      shot: S.shot, version: S.version, width: S.width, height: S.height, zoom: S.zoom,
      tool: S.tool, layer: S.layer, size: S.size, colour: S.colour, dirty: { ...S.dirty }, full: S.full,
      undo: S.shot ? hist().undo.length : 0, redo: S.shot ? hist().redo.length : 0, note: S.note,
      busy: S.pending > 0, // a plate is still loading
      fitted: S.fitted, // fitted to the stage once it is on screen
    }),
    // plate pixels → page coordinates (tests and overlays place things with it)
    toScreen: (x, y) => {
      const r = S.view.getBoundingClientRect();
      return { x: r.left + S.panX + x * S.zoom, y: r.top + S.panY + y * S.zoom };
    },
    layerPixel: (name, x, y) => Array.from(ctx2d(name === "mask" ? S.mask : S.paint).getImageData(x, y, 1, 1).data),
  };
})();
