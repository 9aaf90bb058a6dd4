// pilot's traffic monitor: the list of recorded exchanges, kept live by long-polling
// /api/exchanges, and one exchange in detail. Every value from the API is set as text
// (textContent), never parsed as HTML.
"use strict";

(() => {
  const MAX_ROWS = 500; // rows kept on the page, newest first
  const POLL_SECONDS = 25;
  const RETRY_MS = 2000; // after a failed poll (pilot stopped, or restarting)

  const $ = (selector) => document.querySelector(selector);
  const rows = $("#exchanges tbody");
  const inputs = {
    service: $("#filter-service"),
    status: $("#filter-status"),
    path: $("#filter-path"),
  };
  let following = null; // the AbortController of the current listing
  let selected = null; // the id shown in #detail

  // --- the URL: ?service=&status=&path= choose the listing, ?id=N or #N an exchange ---

  function readUrl() {
    const query = new URLSearchParams(location.search);
    for (const [name, input] of Object.entries(inputs)) {
      const value = query.get(name) || "";
      if (name === "service") ensureOption(value);
      input.value = value;
    }
    return query.get("id") || location.hash.slice(1);
  }

  function writeUrl() {
    const query = filterQuery();
    const search = query.toString() ? `?${query}` : "";
    history.replaceState(null, "", `${location.pathname}${search}${selected ? `#${selected}` : ""}`);
  }

  // --- the listing ---

  function filterQuery() {
    const query = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) {
      if (input.value.trim()) query.set(name, input.value.trim());
    }
    return query;
  }

  // Lists the newest exchanges that match the filters, then follows new ones until aborted.
  async function follow(signal) {
    let after = 0;
    let first = true;
    while (!signal.aborted) {
      const query = filterQuery();
      query.set("after", after);
      query.set("n", MAX_ROWS);
      if (!first) query.set("wait", POLL_SECONDS);
      try {
        const response = await fetch(`/api/exchanges?${query}`, { signal, cache: "no-store" });
        if (!response.ok) {
          const message = (await response.text()).trim();
          if (response.status === 400) {
            setState("offline", message);
            inputs.status.setAttribute("aria-invalid", "true");
            return; // a bad filter: wait for the next change
          }
          throw new Error(message || `HTTP ${response.status}`);
        }
        const data = await response.json();
        if (signal.aborted) return;
        if (data.last < after) { // a new store: pilot restarted
          rows.replaceChildren();
          after = 0;
          first = true;
          continue;
        }
        data.services.forEach(ensureOption);
        addRows(data.exchanges);
        after = data.last;
        first = false;
        setState("live", "live");
      } catch (error) {
        if (signal.aborted) return;
        setState("offline", `disconnected (${error.message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  function restart() {
    if (following) following.abort();
    following = new AbortController();
    inputs.status.removeAttribute("aria-invalid");
    rows.replaceChildren();
    updateEmpty();
    writeUrl();
    follow(following.signal);
  }

  function setState(state, text) {
    const output = $("#state");
    output.dataset.state = state;
    output.textContent = text;
  }

  function ensureOption(name) {
    const select = inputs.service;
    if (!name || [...select.options].some((option) => option.value === name)) return;
    const option = document.createElement("option");
    option.value = option.textContent = name;
    const later = [...select.options].slice(1).find((other) => other.value > name);
    select.insertBefore(option, later || null);
  }

  // `exchanges` come newest first; they go above the rows already shown.
  function addRows(exchanges) {
    rows.prepend(...exchanges.map(row));
    while (rows.rows.length > MAX_ROWS) rows.lastElementChild.remove();
    updateEmpty();
  }

  function updateEmpty() {
    $("#empty").hidden = rows.rows.length > 0;
  }

  function row(exchange) {
    const tr = document.createElement("tr");
    tr.className = "exchange";
    tr.tabIndex = 0;
    tr.dataset.id = exchange.id;
    tr.dataset.service = exchange.service;
    tr.dataset.method = exchange.method;
    tr.dataset.url = exchange.url;
    tr.dataset.status = exchange.status ?? "error";
    if (String(exchange.id) === selected) tr.classList.add("selected");

    cell(tr, "time", clock(exchange.time));
    const service = cell(tr, "service", exchange.service);
    if (exchange.client_service) {
      const caller = element("span", ` ← ${exchange.client_service}`);
      caller.className = "caller";
      service.append(caller);
    }
    cell(tr, "method", exchange.method);
    cell(tr, "path", exchange.url).title = exchange.url;
    const status = cell(tr, "status", statusText(exchange));
    status.classList.add(statusClass(exchange.status));
    if (exchange.error) status.title = exchange.error;
    cell(tr, "duration num", exchange.duration_ms === null ? "–" : milliseconds(exchange.duration_ms));
    cell(tr, "sizes num", `${bytes(exchange.request_size)} / ${bytes(exchange.response_size)}`);
    tr.addEventListener("click", () => select(exchange.id));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter") select(exchange.id);
    });
    return tr;
  }

  function cell(tr, className, text) {
    const td = element("td", text);
    td.className = className;
    tr.append(td);
    return td;
  }

  function statusText(exchange) {
    if (exchange.status === null) return "error";
    return exchange.upgrade ? `${exchange.status} ↑ ${exchange.upgrade}` : String(exchange.status);
  }

  function statusClass(status) {
    return status === null ? "serror" : `s${String(status)[0]}`;
  }

  // --- one exchange ---

  async function select(id) {
    selected = String(id);
    for (const tr of rows.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    const tr = rows.querySelector(`tr[data-id="${CSS.escape(selected)}"]`);
    if (tr) tr.classList.add("selected");
    writeUrl();
    const detail = $("#detail");
    detail.hidden = false;
    $("#panes").classList.add("with-detail");
    let exchange;
    try {
      const response = await fetch(`/api/exchanges/${encodeURIComponent(selected)}`, {
        cache: "no-store",
      });
      if (!response.ok) throw new Error((await response.text()).trim());
      exchange = await response.json();
    } catch (error) {
      if (selected === String(id)) showMissing(detail, id, error.message);
      return;
    }
    if (selected === String(id)) showExchange(detail, exchange);
  }

  function unselect() {
    selected = null;
    for (const tr of rows.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    const detail = $("#detail");
    detail.hidden = true;
    detail.replaceChildren();
    delete detail.dataset.id;
    $("#panes").classList.remove("with-detail");
    writeUrl();
  }

  function showMissing(detail, id, message) {
    detail.dataset.id = id;
    detail.replaceChildren(closeButton(), element("h2", `exchange ${id}`), element("p", message));
  }

  function showExchange(detail, exchange) {
    detail.dataset.id = exchange.id;
    const version = exchange.http_version.startsWith("HTTP") ? exchange.http_version
      : `HTTP/${exchange.http_version}`;
    const summary = document.createElement("dl");
    summary.id = "detail-summary";
    const field = (name, label, value) => {
      if (value === null || value === undefined || value === "") return;
      const dd = element("dd", value);
      dd.dataset.field = name;
      summary.append(element("dt", label), dd);
    };
    field("request", "request", `${exchange.method} ${exchange.url} ${version}`);
    field("status", "status", exchange.status === null ? "no response"
      : `${exchange.status} ${exchange.reason}`.trim());
    field("error", "error", exchange.error);
    field("upgrade", "upgrade", exchange.upgrade
      && `switched to ${exchange.upgrade}; its frames are passed through, not recorded`);
    field("service", "service", exchange.service);
    field("caller", "called by", exchange.client_service);
    field("client", "client", exchange.client);
    field("time", "started", new Date(exchange.time * 1000).toISOString());
    field("duration", "duration",
      exchange.duration_ms === null ? null : milliseconds(exchange.duration_ms));
    const title = element("h2", `${exchange.method} ${exchange.url}`);
    title.id = "detail-title";
    detail.replaceChildren(
      closeButton(), title, summary,
      ...message("request", exchange.request), ...message("response", exchange.response),
    );
  }

  function message(side, part) {
    const heading = element("h3", side);
    const headers = document.createElement("table");
    headers.className = "headers";
    headers.id = `${side}-headers`;
    for (const [name, value] of part.headers) {
      const tr = document.createElement("tr");
      tr.append(element("td", name), element("td", value));
      headers.append(tr);
    }
    return [heading, headers, body(side, part.body, part.headers)];
  }

  // A body: JSON pretty-printed, other text as it is, binary by its size only.
  function body(side, content, headers) {
    const box = document.createElement("div");
    box.className = "body";
    box.id = `${side}-body`;
    const note = (text) => {
      const p = element("p", text);
      p.className = "body-note";
      box.append(p);
    };
    let kept = 0;
    if (content.size === 0) {
      note("no body");
    } else if (content.base64 !== undefined) {
      kept = atob(content.base64).length;
      note(`binary, ${content.size} bytes`);
    } else {
      kept = new TextEncoder().encode(content.text).length;
      const type = headers.find(([name]) => name.toLowerCase() === "content-type")?.[1] || "";
      const json = jsonIndented(content.text, type);
      const pre = element("pre", json ?? content.text);
      pre.className = "body-text";
      pre.dataset.format = json === null ? "text" : "json";
      box.append(pre);
    }
    if (content.truncated) note(`truncated (${kept} of ${content.size} bytes kept)`);
    return box;
  }

  // `text` re-indented when it is JSON (by its content type, or because it parses), else
  // null. The text is re-spaced, not re-serialised, so numbers and key order stay as sent.
  function jsonIndented(text, type) {
    if (!/json/i.test(type) && !/^\s*[[{]/.test(text)) return null;
    try {
      JSON.parse(text);
    } catch {
      return null;
    }
    const pad = (depth) => `\n${"  ".repeat(depth)}`;
    let out = "";
    let depth = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        let end = i + 1;
        while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
        out += text.slice(i, end + 1);
        i = end;
      } else if (c === "{" || c === "[") {
        let next = i + 1;
        while (" \t\n\r".includes(text[next])) next++;
        if (text[next] === "}" || text[next] === "]") {
          out += c + text[next];
          i = next;
        } else {
          depth++;
          out += c + pad(depth);
        }
      } else if (c === "}" || c === "]") {
        depth--;
        out += pad(depth) + c;
      } else if (c === ",") {
        out += `,${pad(depth)}`;
      } else if (c === ":") {
        out += ": ";
      } else if (!" \t\n\r".includes(c)) {
        out += c;
      }
    }
    return out;
  }

  function closeButton() {
    const button = element("button", "close");
    button.id = "detail-close";
    button.type = "button";
    button.addEventListener("click", unselect);
    return button;
  }

  function element(tag, text) {
    const node = document.createElement(tag);
    node.textContent = text;
    return node;
  }

  // --- formats ---

  function clock(seconds) {
    const date = new Date(seconds * 1000);
    const two = (n) => String(n).padStart(2, "0");
    return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.`
      + String(date.getMilliseconds()).padStart(3, "0");
  }

  function milliseconds(ms) {
    return ms < 10 ? `${ms.toFixed(1)} ms` : ms < 10000 ? `${Math.round(ms)} ms`
      : `${(ms / 1000).toFixed(1)} s`;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  // --- start ---

  let typing = null;
  inputs.service.addEventListener("change", restart);
  for (const input of [inputs.status, inputs.path]) {
    input.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(restart, 250);
    });
  }
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    restart();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selected) unselect();
  });
  window.addEventListener("hashchange", () => {
    const id = location.hash.slice(1);
    if (id && id !== selected) select(id);
  });

  const initial = readUrl();
  restart();
  if (initial) select(initial);
})();
