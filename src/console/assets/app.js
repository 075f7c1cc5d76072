// Tidepool's console: a client of the server's own DynamoDB API (the JSON
// the SDKs send), signed with SigV4 when an access key is given.

const enc = new TextEncoder();
const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- requests

function hex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(text) {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

async function hmac(key, text) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(text)));
}

function credentials() {
  const raw = sessionStorage.getItem("tidepool.credentials");
  return raw ? JSON.parse(raw) : null;
}

// RFC 3986 encoding, as SigV4 canonicalizes.
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (ch) => "%" + ch.charCodeAt(0).toString(16).toUpperCase());
}

// The headers of a SigV4-signed request (`path` already encoded, `query`
// an object) for `service`.
async function sign(headers, body, service, method = "POST", path = "/", query = {}) {
  const c = credentials();
  if (!c || !c.accessKey) return headers;
  if (!globalThis.crypto?.subtle) {
    throw new ApiError("SigningUnavailable", "the browser signs only on localhost or over https: open the console there, or serve with --tls");
  }
  const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
  const day = now.slice(0, 8);
  const all = { ...headers, host: location.host, "x-amz-date": now };
  if (c.sessionToken) all["x-amz-security-token"] = c.sessionToken;
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonicalQuery = Object.keys(query).sort().map((k) => `${uriEncode(k)}=${uriEncode(String(query[k]))}`).join("&");
  const canonical = [method, path, canonicalQuery, names.map((n) => `${n}:${lower[n]}\n`).join(""), names.join(";"), await sha256(body)].join("\n");
  const scope = `${day}/${c.region || "us-east-1"}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256(canonical)].join("\n");
  let key = await hmac(enc.encode("AWS4" + c.secretKey), day);
  key = await hmac(key, c.region || "us-east-1");
  key = await hmac(key, service);
  key = await hmac(key, "aws4_request");
  const signature = hex(await hmac(key, toSign));
  const out = { ...headers, "x-amz-date": now };
  if (c.sessionToken) out["x-amz-security-token"] = c.sessionToken;
  out.authorization = `AWS4-HMAC-SHA256 Credential=${c.accessKey}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return out;
}

class ApiError extends Error {
  constructor(type, message) {
    super(message ? `${type}: ${message}` : type);
    this.type = type;
  }
}

// One DynamoDB operation.
export function dynamo(op, input) {
  return jsonCall(`DynamoDB_20120810.${op}`, input);
}

// One DynamoDB Streams operation.
export function streams(op, input) {
  return jsonCall(`DynamoDBStreams_20120810.${op}`, input);
}

async function jsonCall(target, input) {
  const body = JSON.stringify(input || {});
  const headers = await sign({ "content-type": "application/x-amz-json-1.0", "x-amz-target": target }, body, "dynamodb");
  const resp = await fetch("/", { method: "POST", headers, body });
  const text = await resp.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(String(resp.status), text.slice(0, 200));
  }
  if (!resp.ok) {
    const type = String(json.__type || resp.status).split("#").pop();
    throw new ApiError(type, json.message || json.Message || "");
  }
  return json;
}

// A request to a REST API of the server (the Lambda API, Tidepool's own):
// its JSON answer, and the response for its headers.
export async function rest(method, path, { query = {}, body, headers = {}, service = "lambda" } = {}) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const encoded = path.split("/").map((seg) => uriEncode(decodeURIComponent(seg))).join("/");
  // SigV4 (every service but S3) canonicalizes the path as sent, encoded again.
  const canonicalPath = encoded.split("/").map(uriEncode).join("/");
  const signed = await sign({ ...headers, ...(text ? { "content-type": "application/json" } : {}) }, text, service, method, canonicalPath, query);
  const qs = Object.keys(query).map((k) => `${uriEncode(k)}=${uriEncode(String(query[k]))}`).join("&");
  const resp = await fetch(encoded + (qs ? `?${qs}` : ""), { method, headers: signed, body: text || undefined });
  const raw = await resp.text();
  let json = {};
  try {
    json = (raw ? JSON.parse(raw) : {}) ?? { raw };
  } catch {
    json = { raw };
  }
  if (typeof json !== "object") json = { raw };
  if (!resp.ok) {
    const type = resp.headers.get("x-amzn-errortype") || json.__type || String(resp.status);
    throw new ApiError(type.split(":")[0], json.message || json.Message || raw);
  }
  return { json, raw, resp };
}

// ---------------------------------------------------------------- values

// DynamoDB JSON to plain JSON (sets become arrays).
export function plain(v) {
  if (v === null || typeof v !== "object") return v;
  if ("S" in v) return v.S;
  if ("N" in v) return Number(v.N);
  if ("BOOL" in v) return v.BOOL;
  if ("NULL" in v) return null;
  if ("B" in v) return v.B;
  if ("SS" in v) return v.SS;
  if ("NS" in v) return v.NS.map(Number);
  if ("BS" in v) return v.BS;
  if ("L" in v) return v.L.map(plain);
  if ("M" in v) return plainItem(v.M);
  return v;
}

export function plainItem(item) {
  return Object.fromEntries(Object.entries(item || {}).map(([k, v]) => [k, plain(v)]));
}

// Plain JSON to DynamoDB JSON.
export function typed(v) {
  if (v === null || v === undefined) return { NULL: true };
  if (typeof v === "string") return { S: v };
  if (typeof v === "number") return { N: String(v) };
  if (typeof v === "boolean") return { BOOL: v };
  if (Array.isArray(v)) return { L: v.map(typed) };
  return { M: typedItem(v) };
}

export function typedItem(obj) {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typed(v)]));
}

// Whether an item (DynamoDB JSON) reads as plain JSON and back unchanged:
// no sets, no binary, no number a double cannot hold exactly.
function lossless(item) {
  const ok = (v) => {
    if ("SS" in v || "NS" in v || "BS" in v || "B" in v) return false;
    if ("N" in v) return String(Number(v.N)) === v.N.replace(/^(-?)0+(?=\d)/, "$1");
    if ("L" in v) return v.L.every(ok);
    if ("M" in v) return Object.values(v.M).every(ok);
    return true;
  };
  return Object.values(item || {}).every(ok);
}

function text(v) {
  if (v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

// ---------------------------------------------------------------- page

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (k === "class") e.className = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

let toastTimer;
function toast(message, bad = false) {
  const t = $("#toast");
  t.textContent = message;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), bad ? 8000 : 3000);
}

function view(...children) {
  const v = $("#view");
  v.replaceChildren(...children);
  return v;
}

function failure(e) {
  return el("p", { class: "error", "data-testid": "error" }, e.message || String(e));
}


// ---------------------------------------------------------------- plots

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const number = (v) => (v || 0).toLocaleString("en-US", { maximumFractionDigits: 2 });

// A line plot of `values` over `times` (epoch seconds), with its latest
// value; the figure carries its last, largest and total values as data.
function plot(title, times, values, format = number) {
  const W = 300;
  const H = 80;
  const max = Math.max(0, ...values);
  const t0 = times[0] ?? 0;
  const span = Math.max((times[times.length - 1] ?? 0) - t0, 1);
  const x = (t) => ((t - t0) / span) * W;
  const y = (v) => H - 2 - (v / (max || 1)) * (H - 4);
  const points = times.map((t, i) => `${x(t).toFixed(1)},${y(values[i]).toFixed(1)}`);
  const picture = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  if (points.length > 1) {
    picture.append(svg("polygon", { points: `0,${H} ${points.join(" ")} ${W},${H}`, class: "fill" }));
    picture.append(svg("polyline", { points: points.join(" "), class: "line" }));
  } else if (points.length === 1) {
    picture.append(svg("circle", { cx: W - 3, cy: y(values[0]), r: 3, class: "dot" }));
  }
  const last = values.length ? values[values.length - 1] : 0;
  const total = values.reduce((a, b) => a + b, 0);
  const ago = span < 120 ? `${Math.round(span)} s ago` : `${Math.round(span / 60)} min ago`;
  return el("figure", { class: "plot", "data-plot": title, "data-last": last, "data-max": max, "data-total": total },
    el("figcaption", {}, el("span", {}, title), el("strong", {}, format(last))),
    picture,
    el("div", { class: "axis" }, el("span", {}, ago), el("span", {}, `max ${format(max)}`), el("span", {}, "now")));
}

// Plots of a source's history (`query`: `{table}`, `{mapping}` or
// `{function}`), refreshed every few seconds while `box` is shown. Each
// spec is [title, (values, i, seconds) => number, format].
async function historyPlots(box, query, specs, mine) {
  while (mine === navigation && box.isConnected) {
    try {
      const { json } = await rest("GET", "/tidepool/history", { query, service: "tidepool" });
      const times = json.Timestamps;
      box.replaceChildren(...specs.map(([title, f, format]) =>
        plot(title, times, times.map((_, i) => f(json.Values, i, json.Seconds[i] || 1)), format)));
    } catch (e) {
      if (mine === navigation) box.replaceChildren(failure(e));
      return;
    }
    await sleep(5000);
  }
}

const perSecond = (name) => (v, i, secs) => v[name][i] / secs;
const count = (name) => (v, i) => v[name][i];
const ratio = (a, b) => (v, i) => (v[b][i] ? v[a][i] / v[b][i] : 0);
const millis = (v) => `${number(v)} ms`;

// ---------------------------------------------------------------- tables

async function tablesView() {
  const list = el("div", { class: "scroll" }, el("p", { class: "muted" }, "Loading tables…"));
  view(
    el("h1", {}, "Tables"),
    el("div", { class: "row" }, el("button", { id: "create-table", on: { click: () => (location.hash = "#/create") } }, "Create table")),
    list,
  );
  try {
    const names = [];
    let start;
    do {
      const page = await dynamo("ListTables", start ? { ExclusiveStartTableName: start } : {});
      names.push(...page.TableNames);
      start = page.LastEvaluatedTableName;
    } while (start);
    if (!names.length) {
      list.replaceChildren(el("p", { class: "muted" }, "No tables yet."));
      return;
    }
    const rows = await Promise.all(
      names.map(async (n) => {
        try {
          return (await dynamo("DescribeTable", { TableName: n })).Table;
        } catch {
          return { TableName: n };
        }
      }),
    );
    list.replaceChildren(
      el(
        "table",
        { id: "tables" },
        el("thead", {}, el("tr", {}, ["Name", "Status", "Keys", "Items", "Size", "Capacity", "Stream"].map((h) => el("th", {}, h)))),
        el(
          "tbody",
          {},
          rows.map((t) =>
            el(
              "tr",
              { class: "clickable", "data-table": t.TableName, on: { click: () => (location.hash = `#/table/${encodeURIComponent(t.TableName)}`) } },
              el("td", {}, t.TableName),
              el("td", {}, t.TableStatus || ""),
              el("td", {}, (t.KeySchema || []).map((k) => `${k.AttributeName} (${k.KeyType})`).join(", ")),
              el("td", {}, t.ItemCount ?? ""),
              el("td", {}, t.TableSizeBytes === undefined ? "" : bytes(t.TableSizeBytes)),
              el("td", {}, capacity(t)),
              el("td", {}, t.StreamSpecification?.StreamEnabled ? t.StreamSpecification.StreamViewType : "off"),
            ),
          ),
        ),
      ),
    );
  } catch (e) {
    list.replaceChildren(failure(e));
  }
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function capacity(t) {
  if (t.BillingModeSummary?.BillingMode === "PAY_PER_REQUEST") return "on-demand";
  const p = t.ProvisionedThroughput;
  return p ? `${p.ReadCapacityUnits} RCU, ${p.WriteCapacityUnits} WCU` : "";
}

function typeSelect(id) {
  return el("select", { id }, ["S", "N", "B"].map((t) => el("option", { value: t }, t)));
}

function createView() {
  const error = el("div");
  const form = el(
    "form",
    { id: "create-form", class: "panel" },
    el("div", { class: "row" }, el("label", {}, "Table name", el("input", { id: "new-name", required: true, minlength: 3, maxlength: 255, pattern: "[a-zA-Z0-9_.\\-]+" }))),
    el("div", { class: "row" },
      el("label", {}, "Partition key", el("input", { id: "new-pk", required: true })),
      el("label", {}, "Type", typeSelect("new-pk-type")),
      el("label", {}, "Sort key (optional)", el("input", { id: "new-sk" })),
      el("label", {}, "Type", typeSelect("new-sk-type")),
    ),
    el("div", { class: "row" },
      el("label", {}, "Capacity mode",
        el("select", { id: "new-billing" }, el("option", { value: "PAY_PER_REQUEST" }, "On-demand"), el("option", { value: "PROVISIONED" }, "Provisioned"))),
      el("label", {}, "Read capacity", el("input", { id: "new-rcu", type: "number", min: 1, value: 5 })),
      el("label", {}, "Write capacity", el("input", { id: "new-wcu", type: "number", min: 1, value: 5 })),
    ),
    el("div", { class: "row" },
      el("label", {}, "Stream",
        el("select", { id: "new-stream" }, ["", "NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"].map((v) => el("option", { value: v }, v || "off")))),
      el("label", {}, "TTL attribute (optional)", el("input", { id: "new-ttl" })),
    ),
    el("div", { class: "row" },
      el("label", {}, "Global index (optional)", el("input", { id: "new-gsi" })),
      el("label", {}, "Its partition key", el("input", { id: "new-gsi-pk" })),
      el("label", {}, "Type", typeSelect("new-gsi-pk-type")),
    ),
    el("div", { class: "row" }, el("button", { id: "create-submit", type: "submit" }, "Create"), el("button", { type: "button", class: "quiet", on: { click: () => (location.hash = "#/tables") } }, "Cancel")),
    error,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (id) => $(`#${id}`).value.trim();
    const attrs = new Map([[v("new-pk"), v("new-pk-type")]]);
    const keys = [{ AttributeName: v("new-pk"), KeyType: "HASH" }];
    if (v("new-sk")) {
      keys.push({ AttributeName: v("new-sk"), KeyType: "RANGE" });
      attrs.set(v("new-sk"), v("new-sk-type"));
    }
    const input = { TableName: v("new-name"), KeySchema: keys, BillingMode: v("new-billing") };
    if (input.BillingMode === "PROVISIONED") {
      input.ProvisionedThroughput = { ReadCapacityUnits: Number(v("new-rcu")), WriteCapacityUnits: Number(v("new-wcu")) };
    }
    if (v("new-gsi") && v("new-gsi-pk")) {
      attrs.set(v("new-gsi-pk"), v("new-gsi-pk-type"));
      const gsi = { IndexName: v("new-gsi"), KeySchema: [{ AttributeName: v("new-gsi-pk"), KeyType: "HASH" }], Projection: { ProjectionType: "ALL" } };
      if (input.ProvisionedThroughput) gsi.ProvisionedThroughput = input.ProvisionedThroughput;
      input.GlobalSecondaryIndexes = [gsi];
    }
    input.AttributeDefinitions = [...attrs].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
    if (v("new-stream")) input.StreamSpecification = { StreamEnabled: true, StreamViewType: v("new-stream") };
    try {
      await dynamo("CreateTable", input);
      if (v("new-ttl")) {
        await dynamo("UpdateTimeToLive", { TableName: input.TableName, TimeToLiveSpecification: { Enabled: true, AttributeName: v("new-ttl") } });
      }
      toast(`Table ${input.TableName} created`);
      location.hash = `#/table/${encodeURIComponent(input.TableName)}`;
    } catch (e) {
      error.replaceChildren(failure(e));
    }
  });
  view(el("h1", {}, "Create table"), form);
}

// ---------------------------------------------------------------- one table

async function tableView(name) {
  const mine = navigation;
  // (`mine` also guards the capacity panel, which loads after the rest.)
  view(el("h1", {}, name), el("p", { class: "muted" }, "Loading…"));
  let t;
  try {
    t = (await dynamo("DescribeTable", { TableName: name })).Table;
  } catch (e) {
    if (mine === navigation) view(el("h1", {}, name), failure(e));
    return;
  }
  // The user went elsewhere meanwhile: this view is not theirs any more.
  if (mine !== navigation) return;
  const keyOf = (schema, type) => schema.find((k) => k.KeyType === type)?.AttributeName;
  const indexes = [...(t.GlobalSecondaryIndexes || []), ...(t.LocalSecondaryIndexes || [])];
  const facts = el(
    "dl",
    { class: "facts" },
    el("dt", {}, "Status"), el("dd", {}, t.TableStatus),
    el("dt", {}, "Keys"), el("dd", {}, t.KeySchema.map((k) => `${k.AttributeName} (${k.KeyType})`).join(", ")),
    el("dt", {}, "Items"), el("dd", {}, `${t.ItemCount} (${bytes(t.TableSizeBytes)})`),
    el("dt", {}, "Capacity"), el("dd", {}, capacity(t)),
    el("dt", {}, "Stream"), el("dd", {}, t.LatestStreamArn || "off"),
    el("dt", {}, "Indexes"), el("dd", {}, indexes.map((i) => i.IndexName).join(", ") || "none"),
    el("dt", {}, "ARN"), el("dd", {}, t.TableArn),
  );
  if (t.TableStatus === "CREATING" || t.RestoreSummary?.RestoreInProgress) {
    view(el("h1", {}, name), el("div", { class: "panel" }, facts), creating(name, t, mine));
    return;
  }
  const browser = itemBrowser(t, keyOf, indexes);
  const backups = el("div", { class: "panel", id: "backups" }, el("h2", {}, "Backups"), el("p", { class: "muted" }, "Loading…"));
  const indexPanel = indexesPanel(t, mine);
  const usage = el("div", { class: "panel", id: "usage" }, el("h2", {}, "Capacity and cost"), el("p", { class: "muted" }, "Loading…"));
  const activity = el("div", { class: "plots", id: "table-plots" });
  view(
    el("h1", {}, name),
    el("div", { class: "panel" }, facts, el("div", { class: "row" },
      t.LatestStreamArn ? el("button", { id: "open-stream", class: "quiet", on: { click: () => (location.hash = `#/stream/${encodeURIComponent(name)}`) } }, "Stream records") : "",
      el("button", { id: "delete-table", class: "danger", on: { click: () => deleteTable(name) } }, "Delete table"))),
    browser,
    indexPanel,
    el("div", { class: "panel" }, el("h2", {}, "Activity"), activity),
    usage,
    backups,
  );
  backupsPanel(backups, name, mine);
  browser.run();
  historyPlots(activity, { table: name }, [
    ["Read units / s", perSecond("ConsumedReadCapacityUnits")],
    ["Write units / s", perSecond("ConsumedWriteCapacityUnits")],
    ["Requests", count("SuccessfulRequests")],
    ["Throttled requests", count("ThrottledRequests")],
  ], mine);
  usagePanel(usage, name, mine);
}

// A table's secondary indexes (status, keys, projection, items), a form
// that adds a global index (its backfill followed until ACTIVE) and a
// button that deletes one.
function indexesPanel(t, mine) {
  const name = t.TableName;
  const gsis = t.GlobalSecondaryIndexes || [];
  const lsis = t.LocalSecondaryIndexes || [];
  const keys = (schema) => schema.map((k) => `${k.AttributeName} (${k.KeyType})`).join(", ");
  const status = el("p", { class: "muted", id: "index-status" });
  const update = async (change, attributes, doing) => {
    const started = Date.now();
    const tick = setInterval(() => (status.textContent = `${doing}… ${Math.round((Date.now() - started) / 1000)} s`), 250);
    try {
      await dynamo("UpdateTable", { TableName: name, ...(attributes ? { AttributeDefinitions: attributes } : {}), GlobalSecondaryIndexUpdates: [change] });
      // DynamoDB backfills after answering: followed until every index is ACTIVE.
      while (mine === navigation) {
        const now = (await dynamo("DescribeTable", { TableName: name })).Table;
        if ((now.GlobalSecondaryIndexes || []).every((i) => i.IndexStatus === "ACTIVE")) break;
        await sleep(500);
      }
      clearInterval(tick);
      if (mine === navigation) tableView(name);
    } catch (e) {
      clearInterval(tick);
      status.replaceChildren(failure(e));
    }
  };
  const type = () => el("select", {}, ["S", "N", "B"].map((v) => el("option", { value: v }, v)));
  const [iname, pk, pkType, sk, skType] = [el("input", { id: "gsi-name" }), el("input", { id: "gsi-pk" }), type(), el("input", { id: "gsi-sk", placeholder: "optional" }), type()];
  const add = () => {
    const schema = [{ AttributeName: pk.value.trim(), KeyType: "HASH" }];
    const defs = [{ AttributeName: pk.value.trim(), AttributeType: pkType.value }];
    if (sk.value.trim()) {
      schema.push({ AttributeName: sk.value.trim(), KeyType: "RANGE" });
      defs.push({ AttributeName: sk.value.trim(), AttributeType: skType.value });
    }
    const have = t.AttributeDefinitions || [];
    const attributes = [...have, ...defs.filter((d) => !have.some((h) => h.AttributeName === d.AttributeName))];
    const create = { IndexName: iname.value.trim(), KeySchema: schema, Projection: { ProjectionType: "ALL" } };
    if (t.ProvisionedThroughput?.ReadCapacityUnits && t.BillingModeSummary?.BillingMode !== "PAY_PER_REQUEST") {
      create.ProvisionedThroughput = { ReadCapacityUnits: t.ProvisionedThroughput.ReadCapacityUnits, WriteCapacityUnits: t.ProvisionedThroughput.WriteCapacityUnits };
    }
    update({ Create: create }, attributes, `Adding ${create.IndexName}: backfilling it from the table's items`);
  };
  const rows = [...gsis.map((i) => ["global", i]), ...lsis.map((i) => ["local", i])];
  return el("div", { class: "panel", id: "indexes" },
    el("h2", {}, "Indexes"),
    rows.length
      ? el("div", { class: "scroll" }, el("table", { id: "index-list" },
          el("thead", {}, el("tr", {}, ["Index", "Kind", "Keys", "Projection", "Status", "Items", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows.map(([kind, i]) => el("tr", {},
            el("td", {}, i.IndexName),
            el("td", {}, kind),
            el("td", {}, keys(i.KeySchema)),
            el("td", {}, i.Projection?.ProjectionType || ""),
            el("td", {}, `${i.IndexStatus || "ACTIVE"}${i.Backfilling ? " (backfilling)" : ""}`),
            el("td", {}, i.ItemCount ?? ""),
            el("td", {}, kind === "global" ? el("button", { class: "quiet danger index-delete", on: { click: () => {
              if (confirm(`Delete index ${i.IndexName}?`)) update({ Delete: { IndexName: i.IndexName } }, null, `Deleting ${i.IndexName}`);
            } } }, "Delete") : ""))))))
      : el("p", { class: "muted" }, "No secondary indexes."),
    el("div", { class: "row" },
      el("label", {}, "New global index", iname),
      el("label", {}, "Partition key", pk), el("label", {}, "Type", pkType),
      el("label", {}, "Sort key", sk), el("label", {}, "Type", skType),
      el("button", { id: "gsi-add", class: "quiet", on: { click: add } }, "Add index")),
    status);
}

// A table being made (a restore, an import): how far its load has got,
// polled until it is ACTIVE, then the table's page.
function creating(name, t, mine) {
  // A restore (from a backup or a point in time) counts its items under
  // `restore:<table>`; an import (no source in its summary) under its own id.
  const restoring = !!(t.RestoreSummary?.SourceBackupArn || t.RestoreSummary?.SourceTableArn);
  const what = restoring ? "Restoring" : t.RestoreSummary ? "Importing" : "Creating";
  const bar = el("progress", { id: "restore-progress" });
  const label = el("p", { class: "muted", id: "restore-status" }, `${what}…`);
  const box = el("div", { class: "panel" }, el("h2", {}, what), bar, label);
  (async () => {
    const started = Date.now();
    while (mine === navigation) {
      try {
        if (!restoring) throw new Error("no count");
        const { json } = await rest("GET", `/tidepool/progress/${encodeURIComponent(`restore:${name}`)}`, { query: { missing: "idle" }, service: "tidepool" });
        if (!json.Running) throw new Error("not running");
        if (json.TotalItems) {
          bar.max = json.TotalItems;
          bar.value = json.Items;
          label.textContent = `${number(json.Items)} of ${number(json.TotalItems)} items (${Math.floor((100 * json.Items) / json.TotalItems)} %), ${bytes(json.Bytes)}`;
        } else {
          label.textContent = `${number(json.Items)} items, ${bytes(json.Bytes)}`;
        }
      } catch {
        // No load under way (ended, or not a restore): the status says.
        label.textContent = `${what}: ${Math.round((Date.now() - started) / 1000)} s…`;
      }
      try {
        const now = (await dynamo("DescribeTable", { TableName: name })).Table;
        if (now.TableStatus === "ACTIVE" && !now.RestoreSummary?.RestoreInProgress) {
          if (mine === navigation) tableView(name);
          return;
        }
      } catch (e) {
        if (mine === navigation) label.replaceChildren(failure(e));
        return;
      }
      await sleep(1000);
    }
  })();
  return box;
}

// A table's point-in-time recovery and on-demand backups: back up now, and
// restore a backup into a new table.
async function backupsPanel(panel, name, mine) {
  const parts = [el("h2", {}, "Backups")];
  try {
    const d = (await dynamo("DescribeContinuousBackups", { TableName: name })).ContinuousBackupsDescription;
    const p = d.PointInTimeRecoveryDescription || {};
    const at = (v) => (v ? new Date(v * 1000).toISOString().slice(0, 19) + "Z" : "");
    parts.push(el("p", { id: "pitr" }, p.PointInTimeRecoveryStatus === "ENABLED"
      ? `Point-in-time recovery is on: restorable from ${at(p.EarliestRestorableDateTime)} to ${at(p.LatestRestorableDateTime)} (${p.RecoveryPeriodInDays || 35} days kept).`
      : "Point-in-time recovery is off (UpdateContinuousBackups turns it on)."));
    const list = [];
    let start;
    do {
      const page = await dynamo("ListBackups", { TableName: name, ...(start ? { ExclusiveStartBackupArn: start } : {}) });
      list.push(...(page.BackupSummaries || []));
      start = page.LastEvaluatedBackupArn;
    } while (start);
    const target = el("input", { id: "restore-target", value: `${name}-restored`, "aria-label": "New table name" });
    const restore = async (b) => {
      try {
        await dynamo("RestoreTableFromBackup", { TargetTableName: target.value.trim(), BackupArn: b.BackupArn });
        toast(`Restoring ${b.BackupName} into ${target.value.trim()}`);
        location.hash = `#/table/${encodeURIComponent(target.value.trim())}`;
      } catch (e) {
        toast(e.message, true);
      }
    };
    parts.push(el("div", { class: "row" },
      el("button", { id: "backup-now", class: "quiet", on: { click: async () => {
        const stamp = new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 14);
        try {
          await dynamo("CreateBackup", { TableName: name, BackupName: `${name}-${stamp}` });
          toast("Backup made");
          backupsPanel(panel, name, mine);
        } catch (e) {
          toast(e.message, true);
        }
      } } }, "Back up now"),
      el("label", {}, "Restore into a new table", target)));
    parts.push(list.length
      ? el("div", { class: "scroll" }, el("table", { id: "backup-list" },
          el("thead", {}, el("tr", {}, ["Backup", "Status", "Made", "Size", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, list.map((b) => el("tr", {},
            el("td", {}, b.BackupName),
            el("td", {}, b.BackupStatus),
            el("td", {}, at(b.BackupCreationDateTime)),
            el("td", {}, bytes(b.BackupSizeBytes || 0)),
            el("td", {}, el("button", { class: "quiet restore", disabled: b.BackupStatus !== "AVAILABLE", on: { click: () => restore(b) } }, "Restore")))))))
      : el("p", { class: "muted" }, "No backups of this table."));
  } catch (e) {
    parts.push(failure(e));
  }
  if (mine === navigation) panel.replaceChildren(...parts);
}

const dollars = (v) => (Math.abs(v || 0) < 1 ? `$${(v || 0).toFixed(6)}` : `$${v.toFixed(2)}`);

// A table's cost (the cost meter) and its hot keys (Contributor Insights).
async function usagePanel(panel, name, mine) {
  const parts = [el("h2", {}, "Capacity and cost")];
  try {
    const { json } = await rest("GET", "/tidepool/cost", { service: "tidepool" });
    const t = (json.Tables || []).find((x) => x.TableName === name);
    if (t) {
      const r = t.ProjectedMonthlyRequests || {};
      parts.push(el("dl", { class: "facts", id: "cost" },
        el("dt", {}, "Consumed"), el("dd", {}, `${t.ConsumedReadUnits} read units, ${t.ConsumedWriteUnits} write units`),
        el("dt", {}, "Cost so far"), el("dd", {}, dollars(t.CostSoFar?.total)),
        el("dt", {}, "A month at this rate"), el("dd", {}, dollars(t.ProjectedMonthly?.total)),
        el("dt", {}, "Its requests on-demand"), el("dd", {}, dollars(r.OnDemand)),
        el("dt", {}, "…provisioned"), el("dd", {}, `${dollars(r.Provisioned)} (${r.ProvisionedReadCapacityUnits} RCU, ${r.ProvisionedWriteCapacityUnits} WCU)`),
        el("dt", {}, "Cheaper"), el("dd", {}, r.Cheaper || ""),
        el("dt", {}, "Prices"), el("dd", {}, `${json.Region}, of ${json.PricesOn}`)));
    }
  } catch (e) {
    parts.push(failure(e));
  }
  parts.push(el("h2", {}, "Hot keys"));
  try {
    const d = await dynamo("DescribeContributorInsights", { TableName: name });
    if (d.ContributorInsightsStatus === "ENABLED" || d.ContributorInsightsStatus === "ENABLING") {
      const { json } = await rest("GET", "/tidepool/insights", { query: { table: name, minutes: 60, top: 5 }, service: "tidepool" });
      for (const rule of json.Rules || []) {
        parts.push(el("p", { class: "muted" }, `${rule.Description}: ${rule.AggregateValue} events in the last hour`));
        if (rule.Contributors.length) {
          parts.push(el("table", { class: "hot" },
            el("thead", {}, el("tr", {}, [...rule.KeyLabels, "Events"].map((h) => el("th", {}, h)))),
            el("tbody", {}, rule.Contributors.map((c) => el("tr", {}, [...c.Keys, c.ApproximateAggregateValue].map((k) => el("td", { class: "json" }, String(k))))))));
        }
      }
    } else {
      parts.push(el("p", { class: "muted" }, `Contributor Insights is ${String(d.ContributorInsightsStatus).toLowerCase()} for this table.`),
        el("button", { id: "insights-enable", class: "quiet", on: { click: async () => {
          try {
            await dynamo("UpdateContributorInsights", { TableName: name, ContributorInsightsAction: "ENABLE" });
            toast("Contributor Insights enabled: keys are counted from now on");
            usagePanel(panel, name, mine);
          } catch (e) {
            toast(e.message, true);
          }
        } } }, "Count hot keys"));
    }
  } catch (e) {
    parts.push(failure(e));
  }
  if (mine === navigation) panel.replaceChildren(...parts);
}

async function deleteTable(name) {
  if (!confirm(`Delete table ${name} and all its items?`)) return;
  const button = $("#delete-table");
  if (button) {
    button.disabled = true;
    button.textContent = "Deleting…";
  }
  try {
    await dynamo("DeleteTable", { TableName: name });
    toast(`Table ${name} deleted`);
    location.hash = "#/tables";
  } catch (e) {
    toast(e.message, true);
    if (button) {
      button.disabled = false;
      button.textContent = "Delete table";
    }
  }
}

// Scan and Query with paging both ways, and an item editor.
function itemBrowser(t, keyOf, indexes) {
  const pkOf = (index) => keyOf(index ? indexes.find((i) => i.IndexName === index).KeySchema : t.KeySchema, "HASH");
  const skOf = (index) => keyOf(index ? indexes.find((i) => i.IndexName === index).KeySchema : t.KeySchema, "RANGE");
  const tableKeys = [keyOf(t.KeySchema, "HASH"), keyOf(t.KeySchema, "RANGE")].filter(Boolean);
  const results = el("div", { class: "scroll" });
  const pager = el("div", { class: "pager" });
  const error = el("div");
  const mode = el("select", { id: "browse-mode" }, el("option", { value: "Scan" }, "Scan"), el("option", { value: "Query" }, "Query"));
  const index = el("select", { id: "browse-index" }, el("option", { value: "" }, "table"), indexes.map((i) => el("option", { value: i.IndexName }, i.IndexName)));
  const pk = el("input", { id: "query-pk", placeholder: "partition key value" });
  const skOp = el("select", { id: "query-sk-op" }, ["", "=", "<", "<=", ">", ">=", "begins_with"].map((o) => el("option", { value: o }, o || "any sort key")));
  const sk = el("input", { id: "query-sk", placeholder: "sort key value" });
  const filter = el("input", { id: "browse-filter", placeholder: "#a = :v (optional)" });
  const values = el("input", { id: "browse-values", placeholder: '{":v": "x"} (plain JSON)' });
  const projection = el("input", { id: "browse-projection", placeholder: "pk, sk, name (optional)" });
  const size = el("input", { id: "browse-size", type: "number", min: 1, max: 1000, value: 25 });
  const queryFields = el("span", { class: "row" }, el("label", {}, "Partition key", pk), el("label", {}, "Sort key", skOp), el("label", {}, "Value", sk));
  const syncMode = () => (queryFields.hidden = mode.value !== "Query");
  mode.addEventListener("change", syncMode);
  syncMode();
  // Pages: the start key of each page seen, for going back.
  let starts = [undefined];
  let page = 0;

  const typedValue = (name, raw, index) => {
    const def = (t.AttributeDefinitions || []).find((a) => a.AttributeName === name);
    const type = def?.AttributeType || "S";
    return { [type]: raw };
  };

  const request = (start) => {
    const input = { TableName: t.TableName, Limit: Number(size.value) || 25 };
    if (index.value) input.IndexName = index.value;
    if (start) input.ExclusiveStartKey = start;
    const names = {};
    const vals = {};
    if (mode.value === "Query") {
      const p = pkOf(index.value);
      names["#pk"] = p;
      vals[":pk"] = typedValue(p, pk.value, index.value);
      let cond = "#pk = :pk";
      const s = skOf(index.value);
      if (s && skOp.value) {
        names["#sk"] = s;
        vals[":sk"] = typedValue(s, sk.value, index.value);
        cond += skOp.value === "begins_with" ? " AND begins_with(#sk, :sk)" : ` AND #sk ${skOp.value} :sk`;
      }
      input.KeyConditionExpression = cond;
    }
    if (filter.value.trim()) {
      input.FilterExpression = filter.value.trim();
      for (const m of input.FilterExpression.matchAll(/#([A-Za-z0-9_]+)/g)) names[m[0]] ??= m[1];
      if (values.value.trim()) Object.assign(vals, typedItem(JSON.parse(values.value)));
    }
    if (projection.value.trim()) {
      const attrs = projection.value.split(",").map((a) => a.trim()).filter(Boolean);
      input.ProjectionExpression = attrs.map((a, i) => ((names[`#p${i}`] = a), `#p${i}`)).join(", ");
    }
    if (Object.keys(names).length) input.ExpressionAttributeNames = names;
    if (Object.keys(vals).length) input.ExpressionAttributeValues = vals;
    return input;
  };

  // The request of the last Run (pages follow it, not later edits of the
  // form), and a counter that lets only the newest answer in.
  let asked = null;
  let runs = 0;
  const run = async (to = 0) => {
    const me = ++runs;
    if (to === 0) asked = (start) => request(start);
    error.replaceChildren();
    pager.replaceChildren();
    results.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      const out = await dynamo(mode.value, asked(to === 0 ? undefined : starts[to]));
      if (me !== runs) return;
      const items = out.Items || [];
      page = to;
      starts = starts.slice(0, page + 1);
      if (out.LastEvaluatedKey) starts.push(out.LastEvaluatedKey);
      render(items);
      pager.replaceChildren(
        el("button", { id: "page-prev", class: "quiet", disabled: page === 0, on: { click: () => run(page - 1) } }, "Previous"),
        el("span", { class: "muted", id: "page-number" }, `page ${page + 1}, ${items.length} item${items.length === 1 ? "" : "s"}`),
        el("button", { id: "page-next", class: "quiet", disabled: !out.LastEvaluatedKey, on: { click: () => run(page + 1) } }, "Next"),
      );
    } catch (e) {
      if (me !== runs) return;
      results.replaceChildren();
      error.replaceChildren(failure(e));
    }
  };

  const render = (items) => {
    if (!items.length) {
      results.replaceChildren(el("p", { class: "muted", id: "no-items" }, "No items."));
      return;
    }
    const cols = [...tableKeys];
    for (const it of items) for (const k of Object.keys(it)) if (!cols.includes(k) && cols.length < 12) cols.push(k);
    results.replaceChildren(
      el("table", { id: "items" },
        el("thead", {}, el("tr", {}, cols.map((c) => el("th", {}, c)))),
        el("tbody", {}, items.map((it) => el("tr", { class: "clickable", on: { click: () => editor.open(it) } },
          cols.map((c) => el("td", { class: "json" }, text(it[c] === undefined ? undefined : plain(it[c])))))))),
    );
  };

  const editor = itemEditor(t, tableKeys, () => run(page));
  const box = el(
    "div",
    { class: "panel" },
    el("h2", {}, "Items"),
    el("div", { class: "row" },
      el("label", {}, "Operation", mode),
      el("label", {}, "Index", index),
      queryFields,
    ),
    el("div", { class: "row" },
      el("label", {}, "Filter", filter),
      el("label", {}, "Values", values),
      el("label", {}, "Projection", projection),
      el("label", {}, "Page size", size),
      el("button", { id: "browse-run", on: { click: () => { starts = [undefined]; run(0); } } }, "Run"),
      el("button", { id: "item-new", class: "quiet", on: { click: () => editor.open(null) } }, "New item"),
    ),
    error,
    results,
    pager,
    editor.panel,
  );
  box.run = () => run(0);
  return box;
}

function itemEditor(t, tableKeys, refresh) {
  const area = el("textarea", { id: "item-json", rows: 12, spellcheck: "false" });
  const format = el("select", { id: "item-format" }, el("option", { value: "dynamo" }, "DynamoDB JSON"), el("option", { value: "plain" }, "plain JSON"));
  const error = el("div");
  let original = null;
  const read = () => {
    const parsed = JSON.parse(area.value);
    return format.value === "plain" ? typedItem(parsed) : parsed;
  };
  const show = (item) => {
    area.value = JSON.stringify(format.value === "plain" ? plainItem(item) : item, null, 2);
  };
  format.addEventListener("change", () => {
    const back = format.value === "plain" ? "dynamo" : "plain";
    try {
      // The text as it was, read in the other format.
      const before = format.value === "plain" ? JSON.parse(area.value) : typedItem(JSON.parse(area.value));
      if (format.value === "plain" && !lossless(before)) {
        throw new Error("This item has sets, binary values or numbers plain JSON cannot hold exactly: edit it as DynamoDB JSON.");
      }
      show(before);
    } catch (e) {
      format.value = back;
      error.replaceChildren(failure(e));
    }
  });
  // Runs `op` on the table with what `input` gives, then closes the editor
  // and refreshes the page of items; an error stays in the editor.
  const act = async (op, input, done) => {
    try {
      await dynamo(op, { TableName: t.TableName, ...input() });
      toast(done);
      panel.hidden = true;
      refresh();
    } catch (e) {
      error.replaceChildren(failure(e));
    }
  };
  const panel = el(
    "div",
    { class: "panel", id: "item-editor", hidden: true },
    el("h2", {}, "Item"),
    el("div", { class: "row" }, el("label", {}, "Format", format)),
    area,
    el("div", { class: "row" },
      el("button", { id: "item-save", on: { click: () => act("PutItem", () => ({ Item: read() }), "Item saved") } }, "Save"),
      el("button", { id: "item-delete", class: "danger", on: { click: () => {
        if (!original) return;
        const key = Object.fromEntries(tableKeys.map((k) => [k, original[k]]));
        act("DeleteItem", () => ({ Key: key }), "Item deleted");
      } } }, "Delete"),
      el("button", { id: "item-trace", class: "quiet", on: { click: () => {
        if (original) location.hash = itemHref(t.TableName, Object.fromEntries(tableKeys.map((k) => [k, original[k]])));
      } } }, "Trace"),
      el("button", { class: "quiet", on: { click: () => (panel.hidden = true) } }, "Close"),
    ),
    error,
  );
  return {
    panel,
    async open(item) {
      error.replaceChildren();
      format.value = "dynamo";
      let whole = item;
      if (item) {
        // The row may be a projection or an index's copy: the editor holds
        // the whole item, read by its key.
        const key = Object.fromEntries(tableKeys.map((k) => [k, item[k]]));
        if (tableKeys.some((k) => !item[k])) {
          error.replaceChildren(failure(new Error("This row lacks the table's key (a projection without it): it cannot be opened.")));
          panel.hidden = false;
          return;
        }
        try {
          whole = (await dynamo("GetItem", { TableName: t.TableName, Key: key, ConsistentRead: true })).Item || item;
        } catch (e) {
          error.replaceChildren(failure(e));
        }
      }
      original = whole;
      const blank = Object.fromEntries(tableKeys.map((k) => [k, { S: "" }]));
      show(whole || blank);
      panel.hidden = false;
      panel.querySelector("#item-delete").disabled = !whole;
      panel.querySelector("#item-trace").disabled = !whole;
      area.focus();
    },
  };
}

// ---------------------------------------------------------------- streams

// Bumped at each navigation: a live view's loop stops when it changes.
let navigation = 0;
// Rows of live records and log lines kept on a page at most.
const MAX_ROWS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function streamView(table) {
  const mine = navigation;
  const title = () => el("h1", {}, `${table}: stream`);
  view(title(), el("p", { class: "muted" }, "Loading…"));
  let arn;
  let description;
  const shards = [];
  try {
    const t = (await dynamo("DescribeTable", { TableName: table })).Table;
    arn = t.LatestStreamArn;
    if (!arn) {
      view(title(), el("p", { class: "muted" }, "This table has no stream."));
      return;
    }
    let start;
    do {
      description = (await streams("DescribeStream", { StreamArn: arn, ...(start ? { ExclusiveStartShardId: start } : {}) })).StreamDescription;
      shards.push(...description.Shards);
      start = description.LastEvaluatedShardId;
    } while (start);
  } catch (e) {
    if (mine === navigation) view(title(), failure(e));
    return;
  }
  if (mine !== navigation) return;
  const records = el("tbody", { id: "records" });
  const status = el("p", { class: "muted", id: "follow-status" }, "Follow a shard to see its records as they arrive.");
  const from = el("select", { id: "follow-from" }, el("option", { value: "LATEST" }, "new records"), el("option", { value: "TRIM_HORIZON" }, "from the oldest"));
  const children = (id) => shards.filter((s) => s.ParentShardId === id).map((s) => s.ShardId).join(", ");
  let following = 0;
  // Reads `shard` from its iterator until it closes or the view changes.
  const current = (me) => mine === navigation && me === following;
  const iterator = async (shard) =>
    (await streams("GetShardIterator", { StreamArn: arn, ShardId: shard, ShardIteratorType: from.value })).ShardIterator;
  // Reads `shard` from iterator `first` to its end, then its children
  // (a rollover closes a shard and opens one) from their start, as a
  // stream's consumers do: so the records of every key keep their order.
  const read = async (me, shard, first) => {
    let it = first;
    while (it && current(me)) {
      const page = await streams("GetRecords", { ShardIterator: it, Limit: 100 });
      if (!current(me)) return;
      for (const r of page.Records) records.prepend(recordRow(r));
      // At most the newest rows are kept on the page.
      while (records.children.length > MAX_ROWS) records.lastChild.remove();
      it = page.NextShardIterator;
      if (!page.Records.length) await sleep(1000);
    }
    if (!current(me)) return;
    const kids = (await streams("DescribeStream", { StreamArn: arn, ShardFilter: { Type: "CHILD_SHARDS", ShardId: shard } })).StreamDescription.Shards;
    if (!current(me) || !kids.length) return;
    status.textContent = `${shard} closed; following its child ${kids.map((k) => k.ShardId).join(", ")}…`;
    await Promise.all(kids.map(async (k) => {
      const child = (await streams("GetShardIterator", { StreamArn: arn, ShardId: k.ShardId, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator;
      return read(me, k.ShardId, child);
    }));
  };
  const follow = async (ids) => {
    const me = ++following;
    status.textContent = "Starting…";
    status.removeAttribute("data-following");
    records.replaceChildren();
    try {
      const iterators = await Promise.all(ids.map(iterator));
      if (!current(me)) return;
      // Every iterator is taken: records written from now on are shown.
      status.textContent = `Following ${ids.length === 1 ? ids[0] : `${ids.length} shards`}…`;
      status.setAttribute("data-following", "");
      await Promise.all(iterators.map((it, i) => read(me, ids[i], it)));
      if (current(me)) status.textContent = "Closed: every record read (the stream was disabled, or its table deleted).";
    } catch (e) {
      if (current(me)) status.replaceChildren(failure(e));
    }
  };
  const open = shards.filter((s) => !s.SequenceNumberRange.EndingSequenceNumber).map((s) => s.ShardId);
  const range = (s) => `${s.SequenceNumberRange.StartingSequenceNumber} – ${s.SequenceNumberRange.EndingSequenceNumber || "open"}`;
  view(
    title(),
    el("dl", { class: "facts panel" },
      el("dt", {}, "Stream"), el("dd", {}, arn),
      el("dt", {}, "Status"), el("dd", {}, description.StreamStatus),
      el("dt", {}, "View"), el("dd", {}, description.StreamViewType)),
    el("h2", {}, "Shards"),
    el("div", { class: "scroll" }, el("table", { id: "shards" },
      el("thead", {}, el("tr", {}, ["Shard", "Parent", "Children", "Sequence numbers", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, shards.map((s) => el("tr", {},
        el("td", {}, s.ShardId),
        el("td", {}, s.ParentShardId || ""),
        el("td", {}, children(s.ShardId)),
        el("td", {}, range(s)),
        el("td", {}, el("button", {
          class: s.SequenceNumberRange.EndingSequenceNumber ? "quiet follow" : "quiet follow open",
          "data-shard": s.ShardId,
          on: { click: () => follow([s.ShardId]) },
        }, "Follow"))))))),
    el("h2", {}, "Records"),
    el("div", { class: "row" }, el("label", {}, "Show", from),
      el("button", { id: "follow-open", disabled: !open.length, on: { click: () => follow(open) } }, "Follow the open shards")),
    status,
    el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Time", "Event", "Keys", "Old image", "New image"].map((h) => el("th", {}, h)))),
      records)),
  );
}

// A stream record, its images side by side with the changed attributes marked.
function recordRow(r) {
  const d = r.dynamodb || {};
  const oldI = plainItem(d.OldImage);
  const newI = plainItem(d.NewImage);
  const names = [...new Set([...Object.keys(oldI), ...Object.keys(newI)])].sort();
  const side = (img, present) =>
    present
      ? el("td", { class: "json" }, names.filter((n) => n in img).map((n) => {
          const changed = JSON.stringify(oldI[n]) !== JSON.stringify(newI[n]);
          return el("div", { class: changed ? "changed" : "" }, `${n}: ${text(img[n])}`);
        }))
      : el("td", { class: "muted" }, "—");
  const at = d.ApproximateCreationDateTime ? new Date(d.ApproximateCreationDateTime * 1000).toISOString().slice(11, 19) : "";
  return el("tr", { class: "record" },
    el("td", {}, at),
    el("td", {}, r.eventName),
    el("td", { class: "json" }, JSON.stringify(plainItem(d.Keys))),
    side(oldI, !!d.OldImage),
    side(newI, !!d.NewImage));
}

// ---------------------------------------------------------------- functions

async function functionsView() {
  const list = el("div", { class: "scroll" }, el("p", { class: "muted" }, "Loading functions…"));
  const allSchedules = el("div", { class: "scroll", id: "schedules" });
  view(el("h1", {}, "Functions"), list, el("h2", {}, "Schedules"), allSchedules);
  schedulesOf(allSchedules, () => true);
  try {
    const fns = await allPages("/2015-03-31/functions", "Functions");
    if (!fns.length) {
      list.replaceChildren(el("p", { class: "muted" }, "No functions yet: deploy a handler (tidepool deploy) or CreateFunction."));
      return;
    }
    list.replaceChildren(el("table", { id: "functions" },
      el("thead", {}, el("tr", {}, ["Name", "Runtime", "Memory", "Timeout", "State", "Last modified"].map((h) => el("th", {}, h)))),
      el("tbody", {}, fns.map((f) => el("tr", { class: "clickable", on: { click: () => (location.hash = `#/function/${encodeURIComponent(f.FunctionName)}`) } },
        el("td", {}, f.FunctionName), el("td", {}, f.Runtime || ""), el("td", {}, `${f.MemorySize} MB`),
        el("td", {}, `${f.Timeout} s`), el("td", {}, f.State || ""), el("td", {}, f.LastModified || ""))))));
  } catch (e) {
    list.replaceChildren(failure(e));
  }
}

async function functionView(name) {
  const mine = navigation;
  view(el("h1", {}, name), el("p", { class: "muted" }, "Loading…"));
  let config;
  let mappings = [];
  try {
    config = (await rest("GET", `/2015-03-31/functions/${encodeURIComponent(name)}`)).json.Configuration;
    mappings = (await rest("GET", "/2015-03-31/event-source-mappings", { query: { FunctionName: name } })).json.EventSourceMappings || [];
  } catch (e) {
    if (mine === navigation) view(el("h1", {}, name), failure(e));
    return;
  }
  if (mine !== navigation) return;
  const fnPlots = el("div", { class: "plots", id: "function-plots" });
  const versions = el("div", { class: "scroll", id: "versions" }, el("p", { class: "muted" }, "Loading…"));
  const schedules = el("div", { class: "scroll", id: "function-schedules" }, el("p", { class: "muted" }, "Loading…"));
  const mappingPanels = el("div", { id: "mappings" }, mappings.map((m) => mappingPanel(m, mine)));
  const payload = el("textarea", { id: "invoke-payload", rows: 5, spellcheck: "false" }, "{}");
  const result = el("pre", { id: "invoke-result", class: "panel", hidden: true });
  const tail = el("pre", { id: "invoke-log", class: "panel", hidden: true });
  const logs = el("pre", { id: "logs", class: "panel" });
  const followButton = el("button", { id: "logs-follow", class: "quiet" }, "Follow logs");
  followButton.addEventListener("click", async () => {
    followButton.disabled = true;
    let since = 0;
    try {
      while (mine === navigation) {
        const { json } = await rest("GET", `/tidepool/logs/${encodeURIComponent(name)}`, { query: { since, wait: 5 }, service: "tidepool" });
        for (const l of json.lines || []) logs.append(`${new Date(l.timestamp).toISOString().slice(11, 23)} ${l.message}\n`);
        while (logs.childNodes.length > MAX_ROWS) logs.firstChild.remove();
        since = json.nextCursor ?? since;
      }
    } catch (e) {
      if (mine === navigation) logs.append(failure(e));
    } finally {
      followButton.disabled = false;
    }
  });
  const invoke = async () => {
    try {
      const { resp, raw } = await rest("POST", `/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, {
        body: payload.value,
        headers: { "x-amz-log-type": "Tail" },
      });
      const error = resp.headers.get("x-amz-function-error");
      result.hidden = false;
      result.textContent = `${resp.status}${error ? ` (${error})` : ""}\n${raw}`;
      const log = resp.headers.get("x-amz-log-result");
      tail.hidden = !log;
      if (log) tail.textContent = new TextDecoder().decode(Uint8Array.from(atob(log), (ch) => ch.charCodeAt(0)));
    } catch (e) {
      result.hidden = false;
      result.replaceChildren(failure(e));
    }
  };
  view(
    el("h1", {}, name),
    el("dl", { class: "facts panel" },
      el("dt", {}, "Runtime"), el("dd", {}, config.Runtime || ""),
      el("dt", {}, "State"), el("dd", {}, config.State || ""),
      el("dt", {}, "Memory"), el("dd", {}, `${config.MemorySize} MB`),
      el("dt", {}, "Timeout"), el("dd", {}, `${config.Timeout} s`),
      el("dt", {}, "Code"), el("dd", {}, `${bytes(config.CodeSize || 0)}, SHA-256 ${config.CodeSha256}`),
      el("dt", {}, "Role"), el("dd", {}, config.Role || ""),
      el("dt", {}, "Last modified"), el("dd", {}, config.LastModified || "")),
    el("h2", {}, "Versions and aliases"),
    versions,
    el("h2", {}, "Schedules"),
    schedules,
    el("h2", {}, "Activity"),
    fnPlots,
    el("h2", {}, "Triggers"),
    mappings.length ? mappingPanels : el("p", { class: "muted" }, "No event source mappings."),
    el("h2", {}, "Invoke"),
    el("div", { class: "panel" }, payload, el("div", { class: "row" }, el("button", { id: "invoke-run", on: { click: invoke } }, "Invoke"))),
    result,
    tail,
    el("h2", {}, "Logs"),
    el("div", { class: "row" }, followButton),
    logs,
  );
  historyPlots(fnPlots, { function: name }, [
    ["Invocations", count("Invocations")],
    ["Errors", count("Errors")],
    ["Duration (average)", ratio("DurationMs", "Invocations"), millis],
    ["Concurrent executions", count("ConcurrentExecutions")],
  ], mine);
  for (const panel of mappingPanels.children) panel.load();
  versionsOf(versions, name);
  schedulesOf(schedules, (x) => x.Function === name || x.Function.split(":")[6] === name);
}

// Every page of a Lambda list call (`Marker`/`NextMarker`).
async function allPages(path, member) {
  const out = [];
  let marker;
  do {
    const { json } = await rest("GET", path, { query: marker ? { Marker: marker } : {} });
    out.push(...(json[member] || []));
    marker = json.NextMarker;
  } while (marker);
  return out;
}

// A function's published versions and its aliases (with their weights).
async function versionsOf(box, name) {
  try {
    const fn = encodeURIComponent(name);
    const [vs, as] = await Promise.all([allPages(`/2015-03-31/functions/${fn}/versions`, "Versions"), allPages(`/2015-03-31/functions/${fn}/aliases`, "Aliases")]);
    const aliasesOf = (v) => as.filter((a) => a.FunctionVersion === v).map((a) => a.Name);
    const weighted = as.flatMap((a) => Object.entries(a.RoutingConfig?.AdditionalVersionWeights || {}).map(([v, w]) => [v, `${a.Name} (${Math.round(w * 100)} %)`]));
    box.replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, ["Version", "Aliases", "Code SHA-256", "Description", "Last modified"].map((h) => el("th", {}, h)))),
      el("tbody", {}, vs.map((v) => el("tr", {},
        el("td", {}, v.Version),
        el("td", {}, [...aliasesOf(v.Version), ...weighted.filter(([x]) => x === v.Version).map(([, a]) => a)].join(", ")),
        el("td", { class: "json" }, v.CodeSha256 || ""),
        el("td", {}, v.Description || ""),
        el("td", {}, v.LastModified || ""))))));
  } catch (e) {
    box.replaceChildren(failure(e));
  }
}

// The schedules `which` picks, with their next and last fire times.
async function schedulesOf(box, which) {
  try {
    const { json } = await rest("GET", "/tidepool/schedules", { service: "tidepool" });
    const list = (json.Schedules || []).filter(which);
    if (!list.length) {
      box.replaceChildren(el("p", { class: "muted" }, "No schedules (a manifest's [[schedule]], or PUT /tidepool/schedules/<name>)."));
      return;
    }
    box.replaceChildren(el("table", { class: "schedules" },
      el("thead", {}, el("tr", {}, ["Name", "Function", "Expression", "State", "Next fire", "Last fire", "Fired", "Last error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, list.map((x) => el("tr", {},
        el("td", {}, x.Name),
        el("td", {}, el("a", { href: `#/function/${encodeURIComponent(x.Function.split(":")[6] || x.Function)}` }, x.Function)),
        el("td", { class: "json" }, x.Expression),
        el("td", {}, x.State),
        el("td", { class: "next-fire" }, x.NextFire || "—"),
        el("td", {}, x.LastFire || "—"),
        el("td", {}, `${x.Succeeded} ok, ${x.Failed} failed${x.Coalesced ? `, ${x.Coalesced} coalesced` : ""}`),
        el("td", {}, x.LastError || ""))))));
  } catch (e) {
    box.replaceChildren(failure(e));
  }
}

const tableOfArn = (arn) => (arn || "").split(":").slice(5).join(":").split("/")[1] || "";
const yesNo = (b) => (b ? "yes" : "no");

// An event source mapping: its settings, state and last result, its
// shards' checkpoints, plots of its work and the batches it gave up on.
function mappingPanel(m, mine) {
  const table = tableOfArn(m.EventSourceArn);
  const destination = m.DestinationConfig?.OnFailure?.Destination;
  const retries = m.MaximumRetryAttempts === undefined || m.MaximumRetryAttempts === -1 ? "until the record expires" : m.MaximumRetryAttempts;
  const age = m.MaximumRecordAgeInSeconds === undefined || m.MaximumRecordAgeInSeconds === -1 ? "the stream's retention" : `${m.MaximumRecordAgeInSeconds} s`;
  const counters = el("dl", { class: "facts" });
  const shards = el("div", { class: "scroll" });
  const plots = el("div", { class: "plots" });
  const failed = el("div", { class: "failed-batches" });
  const panel = el("div", { class: "panel mapping", "data-uuid": m.UUID },
    el("h3", {}, el("a", { href: `#/stream/${encodeURIComponent(table)}` }, table), " stream"),
    el("dl", { class: "facts" },
      el("dt", {}, "State"), el("dd", { class: "mapping-state" }, `${m.State}${m.StateTransitionReason ? ` (${m.StateTransitionReason})` : ""}`),
      el("dt", {}, "Last result"), el("dd", { class: "mapping-result" }, m.LastProcessingResult || ""),
      el("dt", {}, "Batch"), el("dd", {}, `${m.BatchSize} records, window ${m.MaximumBatchingWindowInSeconds || 0} s, from ${m.StartingPosition || ""}`),
      el("dt", {}, "Retries"), el("dd", {}, `${retries}; records up to ${age} old; bisect on error: ${yesNo(m.BisectBatchOnFunctionError)}`),
      el("dt", {}, "Parallelization"), el("dd", {}, `${m.ParallelizationFactor || 1} per shard${m.TumblingWindowInSeconds ? `, tumbling window ${m.TumblingWindowInSeconds} s` : ""}`),
      el("dt", {}, "Responses"), el("dd", {}, (m.FunctionResponseTypes || []).join(", ") || "whole batches"),
      el("dt", {}, "Filters"), el("dd", {}, String(m.FilterCriteria?.Filters?.length || 0)),
      el("dt", {}, "On failure"), el("dd", {}, destination ? el("a", { href: `#/table/${encodeURIComponent(tableOfArn(destination))}` }, destination) : "discarded"),
      el("dt", {}, "UUID"), el("dd", {}, m.UUID)),
    counters,
    plots,
    shards,
    el("h3", {}, "Failed batches"),
    failed,
    destination ? el("button", { class: "quiet failed-refresh", on: { click: () => showFailed() } }, "Look again") : "");
  const showFailed = async () => {
    try {
      failed.replaceChildren(...(await failedBatches(destination, m)));
    } catch (e) {
      failed.replaceChildren(failure(e));
    }
  };
  panel.load = async () => {
    historyPlots(plots, { mapping: m.UUID }, [
      ["Iterator age", count("IteratorAge"), millis],
      ["Invocations", count("Invocations")],
      ["Failed records", count("FailedRecords")],
      ["Batch size (average)", ratio("RecordsInvoked", "Invocations")],
    ], mine);
    try {
      const { json } = await rest("GET", "/tidepool/mappings", { service: "tidepool" });
      const x = (json.Mappings || []).find((y) => y.UUID === m.UUID)?.Metrics;
      if (x && mine === navigation) {
        const t = x.total || {};
        counters.replaceChildren(
          el("dt", {}, "Records"), el("dd", {}, `${number(t.polled)} read, ${number(t.filtered)} filtered out, ${number(t.invoked)} delivered in ${number(t.invocations)} invocations`),
          el("dt", {}, "Failures"), el("dd", {}, `${number(t.failed)} records failed, ${number(t.dropped)} given up, ${number(t.sentToDestination)} sent to the destination`));
        shards.replaceChildren(el("table", { class: "shard-checkpoints" },
          el("thead", {}, el("tr", {}, ["Shard", "Checkpoint", "Iterator age", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, Object.entries(x.shards || {}).map(([id, sm]) => el("tr", {},
            el("td", {}, id), el("td", {}, sm.checkpoint || "—"), el("td", {}, millis(sm.iteratorAgeMs)), el("td", {}, sm.finished ? "finished" : ""))))));
      }
    } catch (e) {
      counters.replaceChildren(failure(e));
    }
    if (!destination) {
      failed.replaceChildren(el("p", { class: "muted" }, "Without an on-failure destination, batches given up are only counted."));
      return;
    }
    await showFailed();
  };
  return panel;
}

// Destination items a failed-batch list looks through at most (a Scan in
// the table's order, not by time), and the newest of them it shows.
const FAILED_SCANNED = 5000;
const FAILED_SHOWN = 50;

// The batches mapping `m` gave up on, as its on-failure destination table
// holds them (a destination may serve several mappings), newest first,
// each linked to its item.
async function failedBatches(destination, m) {
  const dest = tableOfArn(destination);
  const t = (await dynamo("DescribeTable", { TableName: dest })).Table;
  const keys = t.KeySchema.map((k) => k.AttributeName);
  const items = [];
  let scanned = 0;
  let start;
  do {
    const page = await dynamo("Scan", {
      TableName: dest,
      Limit: 1000,
      FilterExpression: "DDBStreamBatchInfo.streamArn = :arn",
      ExpressionAttributeValues: { ":arn": { S: m.EventSourceArn } },
      ...(start ? { ExclusiveStartKey: start } : {}),
    });
    items.push(...(page.Items || []));
    scanned += page.ScannedCount || 0;
    start = page.LastEvaluatedKey;
  } while (start && scanned < FAILED_SCANNED);
  const mine = items.map((i) => ({ item: i, p: plainItem(i) }))
    .filter(({ p }) => String(p.requestContext?.functionArn || "").split(":")[6] === m.FunctionArn.split(":")[6])
    .sort((a, b) => String(b.p.timestamp).localeCompare(String(a.p.timestamp)))
    .slice(0, FAILED_SHOWN);
  if (!mine.length) return [el("p", { class: "muted" }, `None in ${dest}.`)];
  return [el("table", { class: "failed" },
    el("thead", {}, el("tr", {}, ["Time", "Condition", "Shard", "Sequence numbers", "Records", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, mine.map(({ item, p }) => {
      const info = p.DDBStreamBatchInfo || {};
      const key = Object.fromEntries(keys.map((k) => [k, item[k]]));
      return el("tr", {},
        el("td", {}, String(p.timestamp || "")),
        el("td", {}, p.requestContext?.condition || ""),
        el("td", {}, info.shardId || ""),
        el("td", {}, `${info.startSequenceNumber} – ${info.endSequenceNumber}`),
        el("td", {}, String(info.batchSize ?? "")),
        el("td", {}, el("a", { class: "destination-record", href: itemHref(dest, key) }, "record")));
    })))];
}

const itemHref = (table, key) => `#/item/${encodeURIComponent(table)}/${encodeURIComponent(JSON.stringify(key))}`;

// One item by its key (DynamoDB JSON), read consistently.
async function itemView(table, rawKey) {
  const mine = navigation;
  const title = el("h1", {}, el("a", { href: `#/table/${encodeURIComponent(table)}` }, table), ": item");
  view(title, el("p", { class: "muted" }, "Loading…"));
  let key;
  let item;
  try {
    key = JSON.parse(decodeURIComponent(rawKey));
    item = (await dynamo("GetItem", { TableName: table, Key: key, ConsistentRead: true })).Item;
  } catch (e) {
    if (mine === navigation) view(title, failure(e));
    return;
  }
  if (mine !== navigation) return;
  const trace = el("div", { id: "trace" }, el("p", { class: "muted" }, "Tracing…"));
  view(title,
    el("p", { class: "json muted" }, JSON.stringify(plainItem(key))),
    item ? el("pre", { class: "panel", id: "item-view" }, JSON.stringify(item, null, 2)) : el("p", { class: "muted", id: "item-view" }, "No such item (deleted, or never written)."),
    el("h2", {}, "Trace"),
    el("p", { class: "muted" }, "The item's latest stream record, the trigger invocations whose batch held it, their log lines and the items they wrote (each traced in turn)."),
    el("div", { class: "row" }, el("button", { id: "trace-again", class: "quiet", on: { click: () => showTrace(trace, table, key, mine) } }, "Trace again")),
    trace);
  showTrace(trace, table, key, mine);
}

// A write → its record → the invocations → their writes, as one row of
// cards.
async function showTrace(box, table, key, mine) {
  let t;
  try {
    t = (await rest("GET", "/tidepool/trace", { query: { table, key: JSON.stringify(key) }, service: "tidepool" })).json;
  } catch (e) {
    if (mine === navigation) box.replaceChildren(failure(e));
    return;
  }
  if (mine !== navigation) return;
  const arrow = () => el("div", { class: "arrow", "aria-hidden": "true" }, "→");
  const card = (cls, heading, ...body) => el("div", { class: `card ${cls}` }, el("h3", {}, heading), ...body);
  const steps = [card("write", "Write", el("p", {}, t.Item ? "The item as it is now" : "The item is gone"), el("p", { class: "json" }, JSON.stringify(plainItem(t.Key))))];
  if (!t.Record) {
    steps.push(arrow(), card("record", "Stream record", el("p", { class: "muted" }, "None in the table's stream (no stream, or trimmed).")));
    box.replaceChildren(el("div", { class: "flow" }, steps));
    return;
  }
  const r = t.Record;
  const d = r.dynamodb || {};
  steps.push(arrow(), card("record", "Stream record",
    el("p", {}, el("strong", {}, r.eventName), ` at ${new Date((d.ApproximateCreationDateTime || 0) * 1000).toISOString().slice(0, 19)}Z`),
    el("p", { class: "muted" }, `${d.SequenceNumber} in ${t.ShardId}`),
    ...[["Old image", d.OldImage], ["New image", d.NewImage]].filter(([, img]) => img).map(([label, img]) =>
      el("div", {}, el("p", { class: "muted" }, label), el("p", { class: "json" }, JSON.stringify(plainItem(img)))))));
  const invocations = t.Invocations || [];
  steps.push(arrow(), el("div", { class: "stack" }, invocations.length
    ? invocations.map((i) => card(`invocation${i.FunctionError ? " failed" : ""}`, el("a", { href: `#/function/${encodeURIComponent(i.FunctionName)}` }, i.FunctionName),
        el("p", {}, `${i.Finished}: ${i.BatchSize} record${i.BatchSize === 1 ? "" : "s"}, ${i.FunctionError ? `failed (${i.FunctionError})` : "succeeded"}`),
        el("p", { class: "muted" }, `RequestId ${i.RequestId}`),
        el("pre", { class: "log" }, i.Log.join("\n")),
        el("div", { class: "writes" }, i.Writes.length
          ? [el("p", {}, i.FunctionError ? "Its writes (it failed: they stand, unless its mapping is exactly-once):" : "Its writes:"), ...i.Writes.map((w) => el("p", {}, el("a", { class: "trace-write", href: itemHref(w.TableName, w.Key) }, `${w.Operation} ${w.TableName} ${JSON.stringify(plainItem(w.Key))}`)))]
          : el("p", { class: "muted" }, "No writes."),
          i.MoreWrites ? el("p", { class: "muted" }, `…and ${i.MoreWrites} more`) : "")))
    : card("invocation", "Invocations", el("p", { class: "muted" }, "No trigger has invoked a batch with this record (yet, or within the batches remembered)."))));
  box.replaceChildren(el("div", { class: "flow" }, steps));
}

// ---------------------------------------------------------------- PartiQL

function partiqlView() {
  const area = el("textarea", { id: "partiql-statement", rows: 5, spellcheck: "false", placeholder: 'SELECT * FROM "table" WHERE pk = \'a\'' });
  const out = el("div", { class: "scroll", id: "partiql-result" });
  view(
    el("h1", {}, "PartiQL"),
    el("div", { class: "panel" }, area, el("div", { class: "row" }, el("button", { id: "partiql-run", on: { click: async () => {
      out.replaceChildren(el("p", { class: "muted" }, "Running…"));
      try {
        const r = await dynamo("ExecuteStatement", { Statement: area.value });
        const items = (r.Items || []).map(plainItem);
        out.replaceChildren(el("pre", {}, JSON.stringify(items, null, 2)), r.NextToken ? el("p", { class: "muted" }, "More results: add a LIMIT or page with NextToken.") : "");
      } catch (e) {
        out.replaceChildren(failure(e));
      }
    } } }, "Run"))),
    out,
  );
}

// ---------------------------------------------------------------- routes

function route() {
  navigation += 1;
  const hash = location.hash || "#/tables";
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  const [, kind, raw] = hash.match(/^#\/([^/]*)\/?(.*)$/) || [];
  let arg = raw;
  try {
    arg = raw && decodeURIComponent(raw);
  } catch {
    // A hash typed with a stray `%`: taken as it is.
  }
  if (kind === "create") return createView();
  if (kind === "table" && arg) return tableView(arg);
  if (kind === "partiql") return partiqlView();
  if (kind === "stream" && arg) return streamView(arg);
  if (kind === "functions") return functionsView();
  if (kind === "function" && arg) return functionView(arg);
  if (kind === "item" && raw) {
    const [table, key] = raw.split("/");
    return itemView(arg.split("/")[0] === arg ? table : arg.slice(0, arg.indexOf("/")), key || "");
  }
  return tablesView();
}

function setUpCredentials() {
  const panel = $("#credentials");
  const c = credentials();
  if (c) {
    $("#access-key").value = c.accessKey || "";
    $("#session-token").value = c.sessionToken || "";
    $("#region").value = c.region || "us-east-1";
  }
  const label = () => ($("#credentials-toggle").textContent = credentials() ? `Signed as ${credentials().accessKey}` : "Sign in");
  label();
  $("#credentials-toggle").addEventListener("click", () => (panel.hidden = !panel.hidden));
  $("#credentials-save").addEventListener("click", () => {
    sessionStorage.setItem("tidepool.credentials", JSON.stringify({
      accessKey: $("#access-key").value.trim(),
      secretKey: $("#secret-key").value,
      sessionToken: $("#session-token").value.trim(),
      region: $("#region").value.trim() || "us-east-1",
    }));
    panel.hidden = true;
    label();
    route();
  });
  $("#credentials-clear").addEventListener("click", () => {
    sessionStorage.removeItem("tidepool.credentials");
    label();
  });
}

setUpCredentials();
window.addEventListener("hashchange", route);
route();
