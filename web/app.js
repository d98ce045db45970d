// DOM wiring for the planner. Every number shown, drawn or downloaded comes from the wasm
// module (the schedule crate); this file only moves strings between the form and Rust.
import init, { Planner, start, panic_for_test, read_plan_file, form_html } from './pkg/lrplan_web.js';

const $ = (id) => document.getElementById(id);
const form = $('plan-form');
const canvas = $('chart');
const fatal = $('fatal');
let planner = null;
/** The per-epoch table shows a window of rows around the scroll position (fixed row height). */
const ROW_PX = 28;
const TABLE_WINDOW = 48;
let tableTop = 0;

/** Shows an unexpected failure; never lets the page fail silently. */
function fail(err) {
  console.error(err);
  const text = `Error: ${err && err.message ? err.message : err}`;
  fatal.textContent = fatal.hidden ? text : `${fatal.textContent}\n${text}`;
  fatal.hidden = false;
}
window.addEventListener('error', (e) => fail(e.error || e.message));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));

/** Runs a handler, surfacing any exception (including a wasm trap after a panic). */
const guard = (fn) => (...args) => { try { return fn(...args); } catch (err) { fail(err); } };

function inputs() {
  return [...form.elements].filter((el) => el.name);
}

function readForm() {
  const names = [], values = [];
  for (const el of inputs()) {
    names.push(el.name);
    values.push(el.type === 'checkbox' ? String(el.checked) : el.value);
  }
  return [names, values];
}

function fillForm(fields) {
  for (const { name, value } of fields) {
    const el = form.elements.namedItem(name);
    if (!el) continue;
    if (el.type === 'checkbox') el.checked = value === 'true';
    else el.value = value;
  }
}

/** An input's value as the form conditions spell it (a checkbox as "true"/"false"). */
function valueOf(name) {
  const el = form.elements.namedItem(name);
  return el.type === 'checkbox' ? String(el.checked) : el.value;
}

/** Whether every `name=value` of a `data-when` / `data-enable-when` list holds. */
function holds(conditions) {
  return conditions.split(' ').every((c) => {
    const at = c.indexOf('=');
    return valueOf(c.slice(0, at)) === c.slice(at + 1);
  });
}

/** Shows only the inputs that matter for the current choices (the form declares which). */
function syncVisibility() {
  for (const el of form.querySelectorAll('[data-when]')) {
    const on = holds(el.dataset.when);
    if (el.hidden === on) el.hidden = !on;
  }
  for (const el of form.querySelectorAll('[data-enable-when]')) {
    const on = holds(el.dataset.enableWhen);
    if (el.disabled === on) el.disabled = !on;
  }
  // With automatic limits, the disabled inputs show the optimizer's defaults.
  const kind = valueOf('optimizer.kind');
  const [max, min] = Planner.default_limits(kind);
  for (const [name, auto] of [['lr.limit_max', max], ['lr.limit_min', min]]) {
    const el = form.elements.namedItem(name);
    if (el.placeholder !== auto) el.placeholder = auto;
  }
  const hint = `default for ${kind}: max ${max}, min ${min}`;
  const slot = $('lr.limits.hint');
  if (slot.textContent !== hint) slot.textContent = hint;
}

let shownErrors = 0;
function showErrors(errors) {
  if (errors.length === 0 && shownErrors === 0) return;
  shownErrors = errors.length;
  document.querySelectorAll('.error').forEach((el) => { el.textContent = ''; });
  document.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const list = $('problem-list');
  list.replaceChildren();
  for (const { field, message } of errors) {
    const slot = document.querySelector(`[data-error-for="${field}"]`);
    if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
    form.elements.namedItem(field)?.setAttribute('aria-invalid', 'true');
    const li = document.createElement('li');
    li.textContent = field ? `${field} ${message}` : message;
    list.append(li);
  }
  $('problems').hidden = errors.length === 0;
}

/** "Use in PyTorch": the plan file (Rust's text, uncommented) in an lrplan.torch loop. */
const pytorchSnippet = (plan) => `import lrplan
from lrplan.torch import PlanScheduler, make_optimizer

plan = lrplan.Plan.from_toml('''
${plan}''')
optimizer = make_optimizer(model, plan)
scheduler = PlanScheduler(optimizer, plan)
loader = make_loader(scheduler.batch_size)
for epoch in scheduler.epochs():
    if scheduler.phase_changed:  # unfreeze: a new batch size
        loader = make_loader(scheduler.batch_size)
    for x, y in loader:
        criterion(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.after_iteration()
    scheduler.after_epoch()
`;

function draw() {
  const box = $('chart-box');
  planner.draw(canvas, box.clientWidth, box.clientHeight, window.devicePixelRatio || 1);
}

/** Recompiles from the form and redraws the chart and the numbers next to it. The time this
 *  takes is kept for the benchmark. The table below the chart and the URL follow a moment
 *  later (`refreshTable`, `refreshLink`), so typing stays fluid on long plans. */
function update() {
  const t0 = performance.now();
  const [names, values] = readForm();
  const valid = planner.set_fields(names, values);
  syncVisibility();
  showErrors(planner.errors());
  // An invalid form keeps the last valid plan on screen; on a fresh page, the default one.
  if (valid || !$('summary').innerHTML) {
    draw();
    $('summary').innerHTML = planner.summary_html();
    $('pytorch-snippet').textContent = pytorchSnippet(planner.plan_toml().replace(/^#.*\n+|\s+#.*$/gm, ''));
  }
  document.body.classList.toggle('stale', !valid);
  for (const id of ['download-plan', 'download-csv', 'pin']) $(id).disabled = !valid;
  window.lrplan.lastUpdateMs = performance.now() - t0;
  window.lrplan.updates += 1;
  if (valid) {
    // The table follows after a short pause in typing; the URL after a longer one (Chromium's
    // history.replaceState alone can take tens of milliseconds).
    window.lrplan.pending = true;
    clearTimeout(tableTimer);
    clearTimeout(linkTimer);
    tableTimer = setTimeout(guard(refreshTable), 30);
    linkTimer = setTimeout(guard(refreshLink), 400);
  }
}

let tableTimer = 0;
let linkTimer = 0;
function refreshTable() {
  const t0 = performance.now();
  renderTable();
  window.lrplan.lastTableMs = performance.now() - t0;
}

function refreshLink() {
  const hash = planner.hash();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
  window.lrplan.pending = false;
}

function renderTable() {
  const len = planner.table_len();
  const first = Math.max(0, Math.min(len - TABLE_WINDOW, Math.floor(tableTop / ROW_PX) - 12));
  const count = Math.min(len - first, TABLE_WINDOW);
  const spacer = (rows) => (rows > 0 ? `<tr class="spacer" style="height:${rows * ROW_PX}px"></tr>` : '');
  $('table-rows').innerHTML = spacer(first) + planner.table_rows_html(first, count) + spacer(len - first - count);
}

/** A status line (loads, downloads), clipped; the whole in its title. */
function say(text, ok) {
  const status = $('import-status');
  status.textContent = text.length > 240 ? `${text.slice(0, 239)}…` : text;
  status.title = text;
  status.className = `import-status ${ok ? 'ok' : 'bad'}`;
  status.hidden = false;
}

const messageOf = (err) => (err && err.message ? err.message : String(err));
/** What a link held that a select or checkbox cannot show (`Planner.load_hash`). */
const refusedText = (refused) => `The link's ${refused}: the default is kept.`;

/** Fills the form from `read()` (may throw or be async): `[fields, refused]`; says what happened. */
async function load(kind, read) {
  try {
    const [fields, refused] = await read();
    fillForm(fields);
    say(refused ? `${kind} ${refusedText(refused)}` : kind, !refused);
  } catch (err) {
    if (!fatal.hidden) throw err;
    say(`Could not load: ${messageOf(err)}`, false);
  }
  update();
}

function loadFile(file) {
  // The file's bytes, undecoded: the schedule crate decodes them as the CLI and trainer do.
  return load(`Loaded ${file.name}.`, async () => [read_plan_file(new Uint8Array(await file.arrayBuffer()))]);
}

/** The hash as the address bar holds it: Rust decodes each value. */
function loadHash(kind, hash) {
  return load(kind, () => { const refused = planner.load_hash(hash); return [planner.fields(), refused]; });
}

/** The CSV in pieces (`CsvPieces`), each a Blob at once: no one string holds it. Or a refusal. */
async function downloadCsv() {
  const name = Planner.table_file_name();
  const parts = [];
  let pieces;
  try {
    pieces = planner.table_csv();
    for (let piece; (piece = pieces.next_piece()) !== undefined;) {
      parts.push(new Blob([piece]));
      say(`Writing ${name}: ${Math.floor(pieces.done() * 100)}%`, true);
      await new Promise((ok) => setTimeout(ok));
    }
  } catch (err) {
    if (!fatal.hidden) throw err;
    return say(`Could not download ${name}: ${messageOf(err)}`, false);
  } finally {
    pieces?.free();
  }
  say(`Wrote ${name}.`, true);
  download(name, parts, 'text/csv');
}

function download(name, parts, type) {
  const url = URL.createObjectURL(new Blob(parts, { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function readout(event) {
  const r = planner.readout(event.offsetX);
  const marker = $('marker');
  if (!r) { marker.hidden = true; return; }
  marker.style.transform = `translate(${r.x}px, ${r.y}px)`;
  marker.hidden = false;
  $('readout').textContent = r.text;
}

function wire() {
  form.addEventListener('input', guard(update));
  form.addEventListener('change', guard(update));
  $('reset').addEventListener('click', () => loadHash('Reset to the default plan.', '').catch(fail));
  $('view.log').addEventListener('change', guard((e) => { planner.set_log(e.target.checked); draw(); }));
  $('pin').addEventListener('click', guard(() => {
    if (planner.pinned_label()) {
      planner.unpin();
      $('pin').textContent = 'Pin for comparison';
      $('pinned-label').textContent = '';
    } else {
      $('pinned-label').textContent = planner.pin();
      $('pin').textContent = 'Unpin';
    }
    draw();
  }));
  $('download-plan').addEventListener('click', guard(() =>
    download(Planner.plan_file_name(), [planner.plan_toml()], 'application/toml')));
  $('download-csv').addEventListener('click', () => downloadCsv().catch(fail));
  $('import-file').addEventListener('change', guard((e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) loadFile(file).catch(fail);
  }));
  $('copy-link').addEventListener('click', guard(async () => {
    if (planner.valid()) refreshLink();
    try {
      await navigator.clipboard.writeText(location.href);
      $('copy-link').textContent = 'Link copied';
      setTimeout(() => { $('copy-link').textContent = 'Copy link'; }, 1500);
    } catch {
      window.prompt('Copy this link:', location.href);
    }
  }));
  document.addEventListener('dragover', (e) => { e.preventDefault(); $('drop-hint').hidden = false; });
  document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) $('drop-hint').hidden = true; });
  document.addEventListener('drop', guard((e) => {
    e.preventDefault();
    $('drop-hint').hidden = true;
    const file = e.dataTransfer.files[0];
    if (file) loadFile(file).catch(fail);
  }));
  window.addEventListener('hashchange', () =>
    loadHash('Loaded the plan from the link.', location.hash).catch(fail));
  $('table').addEventListener('scroll', guard(() => { tableTop = $('table').scrollTop; renderTable(); }));
  canvas.addEventListener('mousemove', guard(readout));
  canvas.addEventListener('mouseleave', () => { $('marker').hidden = true; });
  new ResizeObserver(guard(() => draw())).observe($('chart-box'));
}

async function main() {
  await init();
  start();
  planner = new Planner();
  form.insertAdjacentHTML('afterbegin', form_html());
  window.lrplan = { planner, lastUpdateMs: 0, lastTableMs: 0, updates: 0, pending: false, panicForTest: panic_for_test };
  if (location.hash.length > 1) {
    const refused = planner.load_hash(location.hash);
    if (refused) say(refusedText(refused), false);
  }
  fillForm(planner.fields());
  wire();
  update();
  refreshTable();
  refreshLink();
  document.body.dataset.ready = 'true';
}

main().catch(fail);
