// The Mini App: catalog, order form, orders dashboard. Plain JS, no build step.
// Everything from a panel or a user goes into the page with textContent, never as HTML.
"use strict";
(function () {
  const tg = window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
  const base = document.body.dataset.base || "";
  const hash = new URLSearchParams(location.hash.slice(1));
  // Telegram's script hands initData over when it loaded; else it is in the URL fragment, as Telegram passes it.
  const initData = (tg && tg.initData) || hash.get("tgWebAppData") || "";
  const PAGE = 100;
  const $ = (id) => document.getElementById(id);
  const state = {
    me: null, texts: {}, account: null, currency: "", rows: [], cats: [], types: [], favs: new Set(),
    hay: [], shown: [], limit: PAGE, service: null, token: null, ordersOffset: 0, quoteTimer: 0,
  };
  const app = (window.smmApp = { state, lastFilterMs: null, renderedAt: null, ready: false });

  function applyTheme() {
    let params = tg && tg.themeParams;
    if (!params || !Object.keys(params).length) {
      try { params = JSON.parse(hash.get("tgWebAppThemeParams") || "{}"); } catch (e) { params = {}; }
    }
    for (const [key, value] of Object.entries(params || {})) {
      if (/^[a-z_]+$/.test(key) && /^#[0-9a-fA-F]{3,8}$/.test(String(value))) {
        document.documentElement.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
      }
    }
  }

  function t(key, values) {
    let text = state.texts[key] || key;
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function notice(text, bad) {
    const box = $("notice");
    box.textContent = text || "";
    box.classList.toggle("hidden", !text);
    box.classList.toggle("bad", !!bad);
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    opts.headers = Object.assign({ Authorization: "tma " + initData }, opts.headers || {});
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(base + "/api/" + path, opts);
    if (opts.raw) {
      if (!response.ok) throw new Error(String(response.status));
      return response;
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: String(response.status) }; }
    if (!response.ok) {
      const error = new Error(data.error || String(response.status));
      error.data = data;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function accountQuery() { return state.account ? "account=" + encodeURIComponent(state.account) : ""; }

  // ------------------------------------------------------------------ views
  function show(view) {
    for (const name of ["catalog", "service", "orders"]) $("view-" + name).classList.toggle("hidden", name !== view);
    $("tab-catalog").classList.toggle("active", view !== "orders");
    $("tab-orders").classList.toggle("active", view === "orders");
    if (tg && tg.BackButton) (view === "service" ? tg.BackButton.show() : tg.BackButton.hide());
    notice("");
  }

  function translatePage() {
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    for (const node of document.querySelectorAll("[data-tp]")) node.placeholder = t(node.dataset.tp);
  }

  // ------------------------------------------------------------------ catalog
  async function loadCatalog() {
    const data = await api("catalog?" + accountQuery());
    const c = data.catalog;
    state.currency = data.currency || "";
    state.rows = c.rows; state.cats = c.cats; state.types = c.types;
    state.favs = new Set(data.favs || []);
    // one lower-case text per row (id, name, category) so that a keystroke is a substring test per row
    state.hay = c.rows.map((r) => (r[0] + " " + r[1] + " " + c.cats[r[2]]).toLowerCase());
    filter();
    app.renderedAt = performance.now();
    app.ready = true;
  }

  function filter() {
    const started = performance.now();
    const words = $("search").value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = state.rows, hay = state.hay;
    let found = [];
    for (let i = 0; i < rows.length; i++) {
      const h = hay[i];
      let ok = true;
      for (const w of words) { if (h.indexOf(w) < 0) { ok = false; break; } }
      if (ok) found.push(i);
    }
    const sort = $("sort").value;
    const rate = (i) => (rows[i][4] === null ? Infinity : parseFloat(rows[i][4]));  // ordering only; prices stay text
    const fav = (i) => (state.favs.has(rows[i][0]) ? 0 : 1);
    found.sort((a, b) => fav(a) - fav(b) || (sort === "up" ? rate(a) - rate(b) : sort === "down" ? rate(b) - rate(a) : 0) || a - b);
    state.shown = found;
    state.limit = PAGE;
    renderList();
    app.lastFilterMs = performance.now() - started;
  }

  function flagChips(refill, cancel, drip) {
    const box = el("span", "chips");
    for (const [on, key] of [[refill, "refill"], [cancel, "cancel"], [drip, "dripfeed"]]) {
      box.appendChild(el("span", on ? "on" : "", (on ? "✓ " : "✗ ") + t(key)));
    }
    return box;
  }

  function renderList() {
    const list = $("services");
    const rows = state.rows;
    const items = [];
    for (const i of state.shown.slice(0, state.limit)) {
      const r = rows[i];
      const li = el("li", "svc");
      li.dataset.id = r[0];
      const name = el("div", "name" + (state.favs.has(r[0]) ? " fav" : ""), r[1]);
      const line = el("div", "line");
      line.appendChild(el("span", "", "#" + r[0] + " · " + state.cats[r[2]] + " · " + state.types[r[3]]));
      line.appendChild(el("span", "rate", (r[4] === null ? "—" : r[4] + " " + state.currency) + " " + t("per_1000")));
      const meta = el("div", "line");
      meta.appendChild(el("span", "", t("min_max", { min: r[5] === null ? "—" : r[5], max: r[6] === null ? "—" : r[6] })));
      meta.appendChild(flagChips(r[7] & 1, r[7] & 2, r[7] & 4));
      li.append(name, line, meta);
      items.push(li);
    }
    list.replaceChildren(...items);
    $("count").textContent = state.shown.length ? t("shown", { shown: Math.min(state.limit, state.shown.length), total: state.shown.length }) : t("no_match");
    $("more").classList.toggle("hidden", state.shown.length <= state.limit);
  }

  // ------------------------------------------------------------------ service and order form
  async function openService(id) {
    const data = await api("service?" + accountQuery() + "&id=" + encodeURIComponent(id));
    const s = data.service;
    state.service = data;
    $("svc-name").textContent = s.name;
    $("svc-meta").textContent = "#" + s.id + " · " + s.category + " · " + s.type + " · " + (s.rate || "—") + " " + (data.currency || "") + " " + t("per_1000") + " · " + t("min_max", { min: s.min ?? "—", max: s.max ?? "—" });
    $("svc-flags").replaceChildren(flagChips(s.refill, s.cancel, s.dripfeed));
    $("svc-desc").textContent = s.description || "";
    showStar(!!data.favourite);
    const box = $("fields");
    box.replaceChildren(...data.fields.map(fieldInput));
    showApplicable();
    $("q-balance").textContent = data.balance ? data.balance + " " + (data.currency || "") : "—";
    $("q-price").textContent = "—"; $("q-after").textContent = "—";
    setSummary(false);
    show("service");
    scheduleQuote();
  }

  function showStar(on) {
    $("star").setAttribute("aria-pressed", on ? "true" : "false");
    $("star").textContent = (on ? "★ " : "☆ ") + t("favourite");
    $("svc-name").classList.toggle("fav", on);
  }

  async function toggleStar() {
    const id = state.service.service.id;
    const on = $("star").getAttribute("aria-pressed") !== "true";
    const data = await api("favourite", { method: "POST", json: { account: state.service.account, service: id, on } });
    showStar(data.favourite);
    if (data.favourite) state.favs.add(id); else state.favs.delete(id);
    filter();  // favourites first in the list
  }

  function fieldInput(f) {
    const label = el("label", "field");
    label.dataset.field = f.name;
    if (f.needs) label.dataset.needs = f.needs;
    let hint = f.label;
    if (f.optional) hint += " (" + t("skip_hint") + ")";
    if (f.kind === "lines") hint += " — " + t("lines_hint");
    if (f.min !== undefined && f.max !== undefined) hint += " · " + t("min_max", { min: f.min, max: f.max === null ? "∞" : f.max });
    label.appendChild(el("span", "", hint));
    let input;
    if (f.kind === "lines") {
      input = el("textarea");
    } else {
      input = el("input");
      input.type = f.kind === "url" ? "url" : f.kind === "number" ? "number" : "text";
      if (f.kind === "number") { input.inputMode = "numeric"; if (f.min !== undefined) input.min = f.min; if (f.max) input.max = f.max; }
      if (f.choices) {
        const list = el("datalist"); list.id = "choices-" + f.name;
        for (const c of f.choices) { const o = el("option"); o.value = c; list.appendChild(o); }
        label.appendChild(list); input.setAttribute("list", list.id);
      }
    }
    input.name = f.name;
    input.addEventListener("input", () => { showApplicable(); scheduleQuote(); });
    label.append(input, el("div", "err"));
    return label;
  }

  function showApplicable() {
    // a hint only (the server decides): a field that needs another is shown once that one has a value
    for (const box of $("fields").querySelectorAll(".field[data-needs]")) {
      const needed = $("fields").querySelector('[name="' + box.dataset.needs + '"]');
      box.classList.toggle("hidden", !(needed && needed.value.trim()));
    }
  }

  function formValues() {
    const values = {};
    for (const input of $("fields").querySelectorAll("input, textarea")) values[input.name] = input.value;
    return values;
  }

  function showErrors(errors) {
    for (const box of $("fields").querySelectorAll(".field")) {
      const message = (errors || {})[box.dataset.field] || "";
      box.classList.toggle("bad", !!message);
      box.querySelector(".err").textContent = message;
    }
  }

  function showQuote(q, typed) {
    $("q-price").textContent = q.price || "—";
    if (q.balance) $("q-balance").textContent = q.balance;
    $("q-after").textContent = q.after || "—";
    $("q-after").classList.toggle("short", q.enough === false);
    if (typed) {
      // while typing, only complain about fields that have something in them
      const errors = {};
      for (const [k, v] of Object.entries(q.errors || {})) if ((typed[k] || "").trim()) errors[k] = v;
      showErrors(errors);
    } else {
      showErrors(q.errors);
    }
  }

  function orderBody(extra) {
    return Object.assign({ account: state.service.account, service: state.service.service.id, values: formValues() }, extra || {});
  }

  function scheduleQuote() {
    clearTimeout(state.quoteTimer);
    if (state.token) setSummary(false);
    state.quoteTimer = setTimeout(async () => {
      try {
        const values = formValues();
        showQuote(await api("quote", { method: "POST", json: orderBody({ values }) }), values);
      } catch (e) { notice(e.message, true); }
    }, 250);
  }

  function setSummary(on) {
    $("summary").classList.toggle("hidden", !on);
    $("review").classList.toggle("hidden", on);
    if (!on && state.token) {
      // changed after Review: the stored draft is dropped, as the chat's Edit drops it
      api("discard", { method: "POST", json: { token: state.token } }).catch(() => {});
      state.token = null;
    }
    $("confirm").disabled = !on;
  }

  async function review(event) {
    event.preventDefault();
    $("review").disabled = true;
    try {
      const data = await api("draft", { method: "POST", json: orderBody() });
      showQuote(data);
      state.token = data.token;
      setSummary(true);
    } catch (e) {
      if (e.data && e.data.errors) showErrors(e.data.errors); else notice(e.message, true);
    } finally { $("review").disabled = false; }
  }

  async function confirmOrder() {
    const token = state.token;
    if (!token) return;
    $("confirm").disabled = true;  // one press; the server places one order per token anyway
    $("confirm").textContent = t("sending");
    try {
      const data = await api("confirm", { method: "POST", json: { token } });
      state.token = null;
      await openOrders();
      notice(data.message, data.outcome !== "placed" && data.outcome !== "already");
    } catch (e) {
      notice(e.message, true);
      $("confirm").disabled = false;  // safe to press again: the same token is placed at most once
    } finally {
      $("confirm").textContent = t("confirm");
    }
  }

  // ------------------------------------------------------------------ orders
  function orderItem(o) {
    const li = el("li", "ord");
    li.dataset.id = o.id;
    const head = el("div", "line");
    head.appendChild(el("span", "status", (o.panel_order_id ? "#" + o.panel_order_id : "(" + o.id + ")") + " · " + o.status));
    head.appendChild(el("span", "rate", o.charge));
    li.appendChild(head);
    li.appendChild(el("div", "name", o.service_name));
    if (o.link) li.appendChild(el("div", "muted", o.link));
    if (o.error) li.appendChild(el("div", "muted", o.error));
    if (o.percent !== null && o.percent !== undefined) {
      const bar = el("progress"); bar.max = 100; bar.value = o.percent;
      li.appendChild(bar);
    }
    const counts = el("div", "line");
    counts.appendChild(el("span", "", t("delivered") + ": " + (o.delivered ?? "—") + " / " + (o.quantity ?? "—") + (o.percent !== null && o.percent !== undefined ? " (" + o.percent + "%)" : "")));
    counts.appendChild(el("span", "", t("start_count") + ": " + (o.start_count ?? "—")));
    li.appendChild(counts);
    const acts = el("div", "acts");
    const button = (label, action) => {
      const b = el("button", "secondary", t(label));
      b.type = "button"; b.dataset.action = action;
      b.addEventListener("click", () => act(o.id, action, li, b));
      acts.appendChild(b);
    };
    if (o.placement === "placed") button("refresh", "refresh");
    if (o.can_refill) button("refill_button", "refill");
    if (o.can_cancel) button("cancel_button", "cancel");
    li.appendChild(acts);
    return li;
  }

  async function act(id, action, li, b) {
    b.disabled = true;
    try {
      const data = await api("orders/" + id + "/" + action, { method: "POST", json: {} });
      if (data.order) li.replaceWith(orderItem(data.order));
      notice(data.message, data.kind !== "ok");
    } catch (e) { notice(e.message, true); b.disabled = false; }
  }

  async function loadOrders(append) {
    if (!append) state.ordersOffset = 0;
    const account = $("order-account").value;
    const query = "state=" + encodeURIComponent($("state").value) + "&account=" + encodeURIComponent(account) + "&offset=" + state.ordersOffset;
    const data = await api("orders?" + query);
    const items = data.orders.map(orderItem);
    if (append) $("orders").append(...items); else $("orders").replaceChildren(...items);
    if (!append && !items.length) $("orders").appendChild(el("li", "muted", t("no_orders")));
    state.ordersOffset += data.orders.length;
    $("more-orders").classList.toggle("hidden", !data.more);
    const chart = await api("spend.svg?account=" + encodeURIComponent(account), { raw: true });
    const old = $("chart").src;
    $("chart").src = URL.createObjectURL(await chart.blob());
    if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
  }

  async function openOrders() {
    show("orders");
    await loadOrders(false);
  }

  // ------------------------------------------------------------------ start
  async function start() {
    applyTheme();
    if (tg) { try { tg.ready(); tg.expand(); } catch (e) { /* an old client */ } }
    if (!initData) { notice("Open this page from the bot in Telegram.", true); return; }
    let me;
    try { me = await api("me"); } catch (e) { notice(e.message, true); return; }
    state.me = me; state.texts = me.texts;
    document.documentElement.lang = me.lang;
    translatePage();
    const choose = $("account"), filterBy = $("order-account");
    filterBy.appendChild(Object.assign(el("option", "", t("all_accounts")), { value: "" }));
    for (const a of me.accounts) {
      const label = a.name + (a.currency ? " · " + a.currency : "");
      choose.appendChild(Object.assign(el("option", "", label), { value: a.id }));
      filterBy.appendChild(Object.assign(el("option", "", label), { value: a.id }));
    }
    choose.classList.toggle("hidden", me.accounts.length < 2);
    filterBy.classList.toggle("hidden", me.accounts.length < 2);
    if (!me.accounts.length) { notice(t("no_account"), true); return; }
    state.account = String((me.accounts.find((a) => a.default) || me.accounts[0]).id);
    choose.value = state.account;
    $("search").addEventListener("input", filter);
    $("sort").addEventListener("change", filter);
    $("more").addEventListener("click", () => { state.limit += PAGE; renderList(); });
    $("services").addEventListener("click", (event) => {
      const li = event.target.closest("li.svc");
      if (li) openService(li.dataset.id).catch((e) => notice(e.message, true));
    });
    choose.addEventListener("change", () => { state.account = choose.value; loadCatalog().catch((e) => notice(e.message, true)); });
    $("tab-catalog").addEventListener("click", () => show("catalog"));
    $("tab-orders").addEventListener("click", () => openOrders().catch((e) => notice(e.message, true)));
    $("back").addEventListener("click", () => show("catalog"));
    if (tg && tg.BackButton) tg.BackButton.onClick(() => show("catalog"));
    $("star").addEventListener("click", () => toggleStar().catch((e) => notice(e.message, true)));
    $("order-form").addEventListener("submit", review);
    $("confirm").addEventListener("click", confirmOrder);
    $("edit").addEventListener("click", () => setSummary(false));
    $("state").addEventListener("change", () => loadOrders(false).catch((e) => notice(e.message, true)));
    filterBy.addEventListener("change", () => loadOrders(false).catch((e) => notice(e.message, true)));
    $("more-orders").addEventListener("click", () => loadOrders(true).catch((e) => notice(e.message, true)));
    try { await loadCatalog(); } catch (e) { notice(e.message, true); }
  }

  start();
})();
