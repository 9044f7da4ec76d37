// bgart region painter (Generate tab): a shot's regional prompts painted over its layout, one
// flat colour per region and a prompt per colour. Plain Canvas 2D, no dependency. Each pixel
// holds a label (0: no region, k: the k-th colour), so the map is flat: no anti-aliased edge
// ever makes a colour of its own. Installed once per page as window.bgartRegions; mounts into
// #bgart-regions when it appears. Python (ui/regions.py) sends a view (JSON in the hidden
// #regions-view: layout and map as data URLs, colours and prompts) and reads
// bgartRegions.payload() when "Save regions" is pressed.
(() => {
  if (window.bgartRegions) return;
  const CSS = `
#bgart-regions { display: flex; flex-direction: column; gap: 4px; width: 100%; }
#bgart-regions .bgr-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 3px 6px; font-size: 12px; }
#bgart-regions .bgr-btn { padding: 1px 8px; border: 1px solid var(--border-color-primary, #999);
  border-radius: 4px; background: var(--button-secondary-background-fill, #eee); cursor: pointer;
  font-size: 12px; color: var(--body-text-color, #222); }
#bgart-regions .bgr-btn.on { background: var(--button-primary-background-fill, #f97316);
  color: var(--button-primary-text-color, #fff); border-color: transparent; }
#bgart-regions .bgr-btn:disabled { opacity: 0.45; cursor: default; }
#bgart-regions .bgr-slider { display: inline-flex; align-items: center; gap: 4px; }
#bgart-regions .bgr-slider input[type=range] { width: 72px; }
#bgart-regions .bgr-main { display: flex; gap: 10px; align-items: flex-start; }
#bgart-regions .bgr-stage { position: relative; flex: 3 1 0; min-width: 240px; height: 300px;
  overflow: hidden; border-radius: 4px; background: #3a3a3a; touch-action: none; }
#bgart-regions .bgr-view { position: absolute; inset: 0; width: 100%; height: 100%; cursor: crosshair; touch-action: none; }
#bgart-regions .bgr-list { flex: 2 1 0; min-width: 240px; display: flex; flex-direction: column; gap: 4px; }
#bgart-regions .bgr-head { font-size: 12px; opacity: 0.8; }
#bgart-regions .bgr-row { display: flex; align-items: center; gap: 6px; }
#bgart-regions .bgr-swatch { width: 30px; height: 24px; flex: none; border: 2px solid transparent;
  border-radius: 4px; cursor: pointer; padding: 0; }
#bgart-regions .bgr-swatch.on { border-color: var(--body-text-color, #222);
  box-shadow: 0 0 0 2px var(--color-accent, #f97316); }
#bgart-regions .bgr-row input[type=text] { flex: 1; min-width: 0; font-size: 13px; padding: 3px 6px;
  border: 1px solid var(--border-color-primary, #999); border-radius: 4px;
  background: var(--input-background-fill, #fff); color: var(--body-text-color, #222); }
#bgart-regions .bgr-area { width: 3.4em; flex: none; text-align: right; font-size: 11px; opacity: 0.75;
  font-variant-numeric: tabular-nums; }
#bgart-regions .bgr-ref { flex: none; font-size: 11px; padding: 0 4px; border-radius: 3px;
  border: 1px solid var(--border-color-primary, #999); opacity: 0.8; }
#bgart-regions .bgr-info { font-size: 12px; opacity: 0.85; min-height: 1.2em; }
`;
  const LINE_LUM = 140; // a layout pixel darker than this is a line: the fill stops there
  const GROW = 3; // a fill then covers up to this many pixels of the line it stopped at
  const UNDO_BYTES = 96 * 1024 * 1024;

  const R = {
    root: null, stage: null, view: null, info: null, list: null, ui: {},
    shot: null, width: 0, height: 0, layout: null, lum: null, labels: null,
    overlay: null, img: null, damage: null,
    palette: [], rgb: [], prompts: [], refs: new Set(), max: 8, current: 0,
    tool: "brush", size: 16, alpha: 0.55, lines: true,
    undo: [], redo: [], dirty: false, stroke: null, z: 1, ox: 0, oy: 0,
    note: "", source: null, nonce: null, drafts: new Map(),
    loading: Promise.resolve(), pending: 0,
  };

  const hexRGB = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  function layerCanvas(w, h) {
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    return c;
  }
  const ctx2d = (c) => c.getContext("2d", { willReadFrequently: true });
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
  function setText(node, text) { if (node && node.textContent !== text) node.textContent = text; }

  // ---------------------------------------------------------------- the label map
  function damage(x0, y0, x1, y1) {
    const d = R.damage;
    R.damage = d ? { x0: Math.min(d.x0, x0), y0: Math.min(d.y0, y0), x1: Math.max(d.x1, x1), y1: Math.max(d.y1, y1) }
      : { x0, y0, x1, y1 };
  }
  function paintOverlay(x0, y0, x1, y1) { // label → colour (alpha 255; none: transparent)
    const W = R.width, L = R.labels, px = R.img.data;
    x0 = Math.max(0, x0); y0 = Math.max(0, y0); x1 = Math.min(W, x1); y1 = Math.min(R.height, y1);
    if (x1 <= x0 || y1 <= y0) return;
    for (let y = y0; y < y1; y++) {
      for (let x = x0, i = y * W + x0; x < x1; x++, i++) {
        const k = L[i], o = i * 4;
        if (k) { const c = R.rgb[k - 1]; px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = 255; }
        else { px[o] = 0; px[o + 1] = 0; px[o + 2] = 0; px[o + 3] = 0; }
      }
    }
    damage(x0, y0, x1, y1);
  }
  function disc(cx, cy, label) { // every pixel whose centre is inside the brush: no soft edge
    const r = R.size / 2, W = R.width, H = R.height, L = R.labels;
    const y0 = Math.max(0, Math.ceil(cy - r - 0.5)), y1 = Math.min(H - 1, Math.floor(cy + r - 0.5));
    let bx0 = W, bx1 = -1;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy, hw = Math.sqrt(Math.max(0, r * r - dy * dy));
      const x0 = Math.max(0, Math.ceil(cx - hw - 0.5)), x1 = Math.min(W - 1, Math.floor(cx + hw - 0.5));
      for (let x = x0; x <= x1; x++) L[y * W + x] = label;
      bx0 = Math.min(bx0, x0); bx1 = Math.max(bx1, x1);
    }
    if (bx1 < 0 && cx >= 0 && cy >= 0 && cx < W && cy < H) { // a brush smaller than a pixel
      L[Math.floor(cy) * W + Math.floor(cx)] = label;
      bx0 = bx1 = Math.floor(cx);
    }
    if (bx1 >= bx0) paintOverlay(bx0, y0, bx1 + 1, y1 + 1);
  }
  function strokeLabel() { return R.tool === "eraser" ? 0 : R.current + 1; }
  function lineTo(p) {
    const a = R.stroke, step = Math.max(0.5, R.size / 4);
    const n = Math.max(1, Math.ceil(Math.hypot(p.x - a.x, p.y - a.y) / step));
    for (let i = 1; i <= n; i++) disc(a.x + ((p.x - a.x) * i) / n, a.y + ((p.y - a.y) * i) / n, strokeLabel());
    R.stroke = p;
  }
  function fill(p) {
    const W = R.width, H = R.height, x = Math.floor(p.x), y = Math.floor(p.y);
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const L = R.labels, lum = R.lum, seed = y * W + x, from = L[seed], to = R.current + 1;
    if (from === to) return;
    snapshot();
    const walls = R.lines && lum[seed] >= LINE_LUM; // a fill started on a line follows the line
    const blocked = (i) => walls && lum[i] < LINE_LUM;
    const seen = new Uint8Array(W * H), stack = new Int32Array(W * H);
    let top = 0, x0 = x, x1 = x, y0 = y, y1 = y;
    stack[top++] = seed; seen[seed] = 1;
    while (top) {
      const i = stack[--top], ix = i % W, iy = (i - ix) / W;
      L[i] = to;
      if (ix < x0) x0 = ix; if (ix > x1) x1 = ix; if (iy < y0) y0 = iy; if (iy > y1) y1 = iy;
      const push = (n) => { if (!seen[n] && L[n] === from && !blocked(n)) { seen[n] = 1; stack[top++] = n; } };
      if (ix > 0) push(i - 1);
      if (ix < W - 1) push(i + 1);
      if (iy > 0) push(i - W);
      if (iy < H - 1) push(i + W);
    }
    for (let g = 0; walls && g < GROW; g++) { // close the gap the line leaves
      const grown = [];
      for (let yy = Math.max(0, y0 - 1); yy <= Math.min(H - 1, y1 + 1); yy++) {
        for (let xx = Math.max(0, x0 - 1); xx <= Math.min(W - 1, x1 + 1); xx++) {
          const i = yy * W + xx;
          if (seen[i] || L[i] !== from || lum[i] >= LINE_LUM) continue;
          if ((xx > 0 && seen[i - 1]) || (xx < W - 1 && seen[i + 1]) || (yy > 0 && seen[i - W]) || (yy < H - 1 && seen[i + W])) grown.push(i);
        }
      }
      if (!grown.length) break;
      for (const i of grown) { seen[i] = 1; L[i] = to; }
      x0 = Math.max(0, x0 - 1); y0 = Math.max(0, y0 - 1); x1 = Math.min(W - 1, x1 + 1); y1 = Math.min(H - 1, y1 + 1);
    }
    paintOverlay(x0, y0, x1 + 1, y1 + 1);
    edited();
  }
  function clearAll() {
    if (!R.labels || !R.labels.some((v) => v)) return;
    snapshot();
    R.labels.fill(0);
    paintOverlay(0, 0, R.width, R.height);
    edited();
  }

  // ---------------------------------------------------------------- undo
  function snapshot() {
    R.undo.push(R.labels.slice());
    R.redo = [];
    while (R.undo.length > 1 && R.undo.length * R.labels.length > UNDO_BYTES) R.undo.shift();
  }
  function swap(from, to) {
    const prev = from.pop();
    if (!prev) return;
    to.push(R.labels);
    R.labels = prev;
    paintOverlay(0, 0, R.width, R.height);
    edited();
  }
  const undo = () => swap(R.undo, R.redo);
  const redo = () => swap(R.redo, R.undo);
  function edited() {
    R.dirty = true;
    R.note = "";
    updateList();
    render();
  }

  // ---------------------------------------------------------------- drawing the view
  function sizeStage() {
    if (!R.stage) return;
    const r = R.stage.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    if (r.width < 2) return;
    const aspect = R.width ? R.height / R.width : 0.6;
    const h = Math.round(Math.max(200, Math.min(r.width * aspect, Math.max(240, window.innerHeight * 0.62))));
    if (Math.abs(r.height - h) > 1) R.stage.style.height = `${h}px`;
    const box = R.stage.getBoundingClientRect();
    R.view.width = Math.round(box.width * dpr);
    R.view.height = Math.round(box.height * dpr);
    if (R.width) {
      R.z = Math.min(box.width / R.width, box.height / R.height);
      R.ox = (box.width - R.width * R.z) / 2;
      R.oy = (box.height - R.height * R.z) / 2;
    }
    render();
  }
  let frame = 0;
  function render() { if (!frame) frame = requestAnimationFrame(draw); }
  function draw() {
    frame = 0;
    if (!R.view) return;
    const ctx = R.view.getContext("2d"), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#3a3a3a";
    ctx.fillRect(0, 0, R.view.width, R.view.height);
    if (!R.labels) {
      ctx.fillStyle = "#ddd";
      ctx.font = `${14 * dpr}px sans-serif`;
      ctx.fillText(R.shot ? "This shot has no layout or plate to draw regions on." : "Open a shot to draw its regions.", 16 * dpr, 28 * dpr);
      return updateInfo();
    }
    if (R.damage) {
      const d = R.damage;
      ctx2d(R.overlay).putImageData(R.img, 0, 0, d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
      R.damage = null;
    }
    ctx.setTransform(dpr * R.z, 0, 0, dpr * R.z, dpr * R.ox, dpr * R.oy);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(R.layout, 0, 0);
    ctx.imageSmoothingEnabled = false; // the regions as flat as they are
    ctx.globalAlpha = R.alpha;
    ctx.drawImage(R.overlay, 0, 0);
    ctx.globalAlpha = 1;
    updateInfo();
  }
  function toMap(e) {
    const r = R.view.getBoundingClientRect();
    return { x: (e.clientX - r.left - R.ox) / R.z, y: (e.clientY - r.top - R.oy) / R.z };
  }

  // ---------------------------------------------------------------- pointer
  function onDown(e) {
    if (!R.labels || e.button !== 0) return;
    try { R.view.setPointerCapture(e.pointerId); } catch (_) { /* a synthetic pointer */ }
    const p = toMap(e);
    if (R.tool === "fill") return fill(p);
    snapshot();
    R.stroke = p;
    disc(p.x, p.y, strokeLabel());
    render();
  }
  function onMove(e) {
    if (!R.stroke) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) lineTo(toMap(ev));
    render();
  }
  function onUp(e) {
    if (!R.stroke) return;
    lineTo(toMap(e));
    R.stroke = null;
    edited();
  }

  // ---------------------------------------------------------------- toolbar and prompts
  function setTool(t) { R.tool = t; updateInfo(); }
  function setColour(i) { if (i >= 0 && i < R.palette.length) { R.current = i; if (R.tool === "eraser") R.tool = "brush"; updateList(); updateInfo(); } }
  function setSize(v) { R.size = Math.max(1, Math.min(500, Math.round(v))); updateInfo(); }
  function setPrompt(i, text) {
    if (i < 0 || i >= R.prompts.length) return;
    R.prompts[i] = text;
    const input = R.list && R.list.querySelector(`#bgr-prompt-${i}`);
    if (input && input.value !== text) input.value = text;
    R.dirty = true;
    updateInfo();
  }
  function counts() {
    const n = new Array(R.palette.length + 1).fill(0);
    if (R.labels) for (let i = 0; i < R.labels.length; i++) n[R.labels[i]] += 1;
    return n;
  }
  function buildList() {
    if (!R.list) return;
    R.list.innerHTML = "";
    R.list.append(el("div", { class: "bgr-head", text: "Colour · what its area shows (empty: unused)" }));
    R.palette.forEach((colour, i) => {
      const swatch = el("button", { type: "button", class: "bgr-swatch", id: `bgr-swatch-${i}`, title: `paint with ${colour}`, onclick: () => setColour(i) });
      swatch.style.background = colour;
      const input = el("input", { type: "text", id: `bgr-prompt-${i}`, placeholder: `prompt for ${colour}`, "aria-label": `prompt for ${colour}` });
      input.value = R.prompts[i] || "";
      input.addEventListener("input", () => { R.prompts[i] = input.value; R.dirty = true; updateInfo(); });
      input.addEventListener("focus", () => setColour(i));
      const kids = [swatch, input, el("span", { class: "bgr-area", id: `bgr-area-${i}` })];
      if (R.refs.has(colour)) { // the regions file gives it a reference image: kept on save
        kids.splice(2, 0, el("span", { class: "bgr-ref", id: `bgr-ref-${i}`, text: "ref", title: "this region's own reference image (regions file) is kept" }));
      }
      R.list.append(el("div", { class: "bgr-row" }, kids));
    });
    updateList();
  }
  function updateList() {
    if (!R.list) return;
    const n = counts(), total = Math.max(1, R.labels ? R.labels.length : 1);
    R.palette.forEach((_, i) => {
      const s = R.list.querySelector(`#bgr-swatch-${i}`);
      if (s) s.classList.toggle("on", i === R.current);
      const pct = (100 * n[i + 1]) / total;
      setText(R.list.querySelector(`#bgr-area-${i}`), n[i + 1] ? `${pct < 1 ? "<1" : Math.round(pct)}%` : "");
    });
  }
  function updateInfo() {
    if (!R.root) return;
    for (const [t, b] of Object.entries(R.ui.tools)) b.classList.toggle("on", R.tool === t);
    R.ui.size.value = R.size;
    setText(R.ui.sizeOut, `${R.size}px`);
    R.ui.undo.disabled = !R.undo.length;
    R.ui.redo.disabled = !R.redo.length;
    let text = "Open a shot to draw its regions.";
    if (R.shot && R.labels) {
      const n = counts().slice(1).filter((v) => v).length;
      text = `${R.shot} · map ${R.width}×${R.height} · ${n} colour(s) painted · ` + (R.dirty
        ? "unsaved: Save regions for Generate to use them"
        : R.source ? `saved (${R.source}): Generate uses them` : "no regions yet");
    } else if (R.shot) text = `${R.shot}: nothing to draw regions on yet`;
    if (R.note) text += ` · ${R.note}`;
    setText(R.info, text);
    R.root.dataset.shot = R.shot || "";
  }

  function mount(host) {
    R.root = host;
    host.innerHTML = "";
    const tool = (t, label, title) => el("button", { type: "button", class: "bgr-btn", id: `bgr-${t}`, title, text: label, onclick: () => setTool(t) });
    R.ui.tools = {
      brush: tool("brush", "Brush", "paint the chosen colour"),
      fill: tool("fill", "Fill", "fill the area under the pointer with the chosen colour"),
      eraser: tool("eraser", "Eraser", "take pixels out of every region"),
    };
    R.ui.size = el("input", { type: "range", id: "bgr-size", min: 1, max: 200, step: 1, value: R.size, title: "brush size" });
    R.ui.size.addEventListener("input", () => setSize(parseFloat(R.ui.size.value)));
    R.ui.sizeOut = el("span", { class: "bgr-val", id: "bgr-size-val" });
    const lines = el("input", { type: "checkbox", id: "bgr-lines", checked: "" });
    lines.addEventListener("change", () => { R.lines = lines.checked; });
    const alpha = el("input", { type: "range", id: "bgr-alpha", min: 0.1, max: 1, step: 0.05, value: R.alpha, title: "how strongly the regions cover the layout" });
    alpha.addEventListener("input", () => { R.alpha = parseFloat(alpha.value); render(); });
    R.ui.undo = el("button", { type: "button", class: "bgr-btn", id: "bgr-undo", title: "undo", text: "↶ Undo", onclick: undo });
    R.ui.redo = el("button", { type: "button", class: "bgr-btn", id: "bgr-redo", title: "redo", text: "↷ Redo", onclick: redo });
    const bar = el("div", { class: "bgr-bar" }, [
      ...Object.values(R.ui.tools),
      el("label", { class: "bgr-slider" }, ["Size", R.ui.size, R.ui.sizeOut]),
      el("label", { class: "bgr-slider", title: "the fill stops at the layout's lines" }, [lines, "Fill stops at lines"]),
      el("label", { class: "bgr-slider" }, ["Opacity", alpha]),
      R.ui.undo, R.ui.redo,
      el("button", { type: "button", class: "bgr-btn", id: "bgr-clear", title: "remove every region (undo brings them back)", text: "Clear", onclick: clearAll }),
    ]);
    R.view = el("canvas", { class: "bgr-view", id: "bgr-view" });
    R.stage = el("div", { class: "bgr-stage", id: "bgr-stage" }, [R.view]);
    R.list = el("div", { class: "bgr-list", id: "bgr-list" });
    R.info = el("div", { class: "bgr-info", id: "bgr-info" });
    host.append(bar, el("div", { class: "bgr-main" }, [R.stage, R.list]), R.info);
    R.view.addEventListener("pointerdown", onDown);
    R.view.addEventListener("pointermove", onMove);
    R.view.addEventListener("pointerup", onUp);
    R.view.addEventListener("pointercancel", onUp);
    R.view.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(sizeStage).observe(R.stage);
    window.addEventListener("resize", sizeStage);
    buildList();
    updateInfo();
    sizeStage();
  }

  // ---------------------------------------------------------------- loading a shot
  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot read an image of the regions view"));
      img.src = url;
    });
  }
  function stash() { // unsaved regions of the shot being left, kept while the page is open
    if (R.shot && R.labels && R.dirty) {
      R.drafts.set(R.shot, { width: R.width, height: R.height, labels: R.labels, palette: R.palette.slice(), prompts: R.prompts.slice() });
    }
  }
  function arrange(pairs, house, max) {
    // the house colours keep their slots; a file's own colours take the last free slots
    const palette = house.slice(0, max), prompts = palette.map(() => "");
    const free = palette.map((c, i) => i).filter((i) => !pairs.some((p) => p[0] === palette[i])).reverse();
    for (const [colour, prompt] of pairs) {
      let i = palette.indexOf(colour);
      if (i < 0) { i = free.shift(); if (i === undefined) { i = palette.length; } palette[i] = colour; }
      prompts[i] = prompt;
    }
    return { palette, prompts };
  }
  async function doLoad(view) {
    if (typeof view === "string") { if (!view.trim()) return; view = JSON.parse(view); }
    if (!view || view.nonce === R.nonce) return;
    R.nonce = view.nonce;
    if (view.shot !== R.shot) stash();
    const W = view.width || 0, H = view.height || 0;
    Object.assign(R, { shot: view.shot, width: W, height: H, source: view.source, note: view.note || "",
      max: view.max || 8, undo: [], redo: [], dirty: false, stroke: null, labels: null });
    const { palette, prompts } = arrange(view.regions || [], view.palette || [], R.max);
    R.palette = palette; R.prompts = prompts; R.refs = new Set(view.references || []);
    if (W && H) {
      R.layout = layerCanvas(W, H);
      const lc = ctx2d(R.layout);
      lc.fillStyle = "#fff";
      lc.fillRect(0, 0, W, H);
      if (view.layout) lc.drawImage(await loadImage(view.layout), 0, 0, W, H);
      const d = lc.getImageData(0, 0, W, H).data, lum = new Uint8Array(W * H);
      for (let i = 0; i < lum.length; i++) lum[i] = (d[4 * i] * 77 + d[4 * i + 1] * 150 + d[4 * i + 2] * 29) >> 8;
      const labels = new Uint8Array(W * H);
      if (view.map) {
        const mc = layerCanvas(W, H), mx = ctx2d(mc);
        mx.drawImage(await loadImage(view.map), 0, 0);
        const md = mx.getImageData(0, 0, W, H).data;
        const index = new Map(R.palette.map((c, i) => [parseInt(c.slice(1), 16), i + 1]));
        for (let i = 0; i < labels.length; i++) {
          if (md[4 * i + 3] < 128) continue;
          labels[i] = index.get((md[4 * i] << 16) | (md[4 * i + 1] << 8) | md[4 * i + 2]) || 0;
        }
      }
      const draft = R.drafts.get(view.shot);
      if (view.saved) R.drafts.delete(view.shot);
      else if (draft && draft.width === W && draft.height === H) {
        R.palette = draft.palette; R.prompts = draft.prompts;
        labels.set(draft.labels);
        R.dirty = true;
        R.note = "your unsaved regions of this shot are back";
        R.drafts.delete(view.shot);
      }
      R.lum = lum; R.labels = labels;
      R.overlay = layerCanvas(W, H);
      R.img = new ImageData(W, H);
      R.size = Math.max(2, Math.round(Math.max(W, H) / 40));
    }
    R.rgb = R.palette.map(hexRGB);
    R.current = 0;
    if (R.labels) paintOverlay(0, 0, W, H);
    buildList();
    sizeStage();
    render();
  }
  function load(view) {
    R.pending += 1;
    R.loading = R.loading.then(() => doLoad(view))
      .catch((e) => { console.error(e); R.note = String(e.message || e); updateInfo(); })
      .finally(() => { R.pending -= 1; });
    return R.loading;
  }

  // ---------------------------------------------------------------- what Python reads
  function payload() {
    if (!R.shot || !R.labels) return "";
    const c = layerCanvas(R.width, R.height), img = new ImageData(R.width, R.height);
    const [saveImg, saveDamage] = [R.img, R.damage];
    R.img = img;
    paintOverlay(0, 0, R.width, R.height); // the labels as opaque colours, unpainted clear
    [R.img, R.damage] = [saveImg, saveDamage];
    ctx2d(c).putImageData(img, 0, 0);
    return JSON.stringify({
      shot: R.shot, width: R.width, height: R.height, map: c.toDataURL("image/png"),
      regions: R.palette.map((colour, i) => [colour, R.prompts[i] || ""]),
    });
  }

  const style = document.createElement("style");
  style.textContent = CSS;
  document.head.append(style);
  const tryMount = () => {
    const host = document.getElementById("bgart-regions");
    if (host && host !== R.root) mount(host);
  };
  new MutationObserver(tryMount).observe(document.body, { childList: true, subtree: true });
  document.addEventListener("click", (e) => { // Generate renders the saved regions only
    if (R.dirty && e.target instanceof Element && e.target.closest("#generate-btn")) {
      R.note = "Generate uses the saved regions, not these unsaved changes";
      updateInfo();
    }
  }, true);
  tryMount();

  window.bgartRegions = {
    load, payload, undo, redo, setTool, setColour, setSize, setPrompt,
    state: () => ({
      shot: R.shot, width: R.width, height: R.height, tool: R.tool, colour: R.current,
      palette: R.palette.slice(), prompts: R.prompts.slice(), areas: counts().slice(1),
      dirty: R.dirty, source: R.source, note: R.note, busy: R.pending > 0,
      undo: R.undo.length, redo: R.redo.length,
    }),
    // map pixel → page point, and the label (0: none, k: colour k-1) at a map pixel
    toScreen: (x, y) => {
      const r = R.view.getBoundingClientRect();
      return { x: r.left + R.ox + x * R.z, y: r.top + R.oy + y * R.z };
    },
    label: (x, y) => (R.labels ? R.labels[y * R.width + x] : 0),
  };
  if (window.bgartRegionsView) load(window.bgartRegionsView); // a view that came first
})();
