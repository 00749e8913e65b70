// Reading a postgres_changes binding as Supabase Realtime reads it
// (lib/extensions/postgres_cdc_rls/subscriptions.ex, parse_subscription_params), with its error
// texts, and the texts Realtime puts in the `system` message when subscribing fails.

/** A filter as realtime.subscription stores it: column, operator, value, `not.` prefix. */
export type Filter = [column: string, op: string, value: string, negate: boolean];

export interface SubscriptionParams {
  actionFilter: "*" | "INSERT" | "UPDATE" | "DELETE";
  schema: string;
  table: string;
  filters: Filter[];
  selectedColumns: string[] | null;
}

export type Parsed = { ok: true; params: SubscriptionParams } | { ok: false; message: string };

/** Realtime's operators: the 2023 set (eq…in) and those added in 2026 (like…isdistinct). */
const FILTER_TYPES = [
  "eq",
  "neq",
  "lt",
  "lte",
  "gt",
  "gte",
  "in",
  "like",
  "ilike",
  "is",
  "match",
  "imatch",
  "isdistinct",
];

/** Elixir's `inspect` for the values a binding holds, enough for Realtime's messages. */
export function inspect(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(inspect).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
    return `%{${entries.map(([k, v]) => `${JSON.stringify(k)} => ${inspect(v)}`).join(", ")}}`;
  }
  return String(value);
}

function inspectFilter([column, op, value, negate]: Filter): string {
  return `{${JSON.stringify(column)}, ${JSON.stringify(op)}, ${JSON.stringify(value)}, ${negate}}`;
}

/** What Realtime logs and reports of parsed params: `event: *, schema: public, …`. */
export function paramsToLog(p: SubscriptionParams): string {
  return [
    `event: ${p.actionFilter}`,
    `schema: ${p.schema}`,
    `table: ${p.table}`,
    `filters: [${p.filters.map(inspectFilter).join(", ")}]`,
    `select: ${p.selectedColumns ? inspect(p.selectedColumns) : "nil"}`,
  ].join(", ");
}

function actionFilter(event: unknown): SubscriptionParams["actionFilter"] {
  if (typeof event !== "string") return "*";
  const upper = event.toUpperCase();
  return upper === "INSERT" || upper === "UPDATE" || upper === "DELETE" ? upper : "*";
}

/** Splits on commas outside parentheses and quoted values, as Realtime's split_top_level. */
function splitTopLevel(filter: string): string[] {
  const segments: string[] = [];
  let current = "";
  let depth = 0;
  let quoted = false;
  let prev = "";
  for (let i = 0; i < filter.length; i++) {
    const char = filter[i];
    if (quoted) {
      if (char === "\\" && i + 1 < filter.length) {
        current += char + filter[i + 1];
        prev = filter[++i];
      } else if (char === '"') {
        quoted = false;
        current += char;
        prev = char;
      } else {
        current += char;
        prev = char;
      }
    } else if (char === '"' && (prev === "." || prev === "(" || prev === ",")) {
      quoted = true;
      current += char;
      prev = char;
    } else if (char === "(") {
      depth++;
      current += char;
      prev = char;
    } else if (char === ")") {
      depth = Math.max(0, depth - 1);
      current += char;
      prev = char;
    } else if (char === "," && depth === 0) {
      segments.push(current);
      current = "";
      prev = "";
    } else {
      current += char;
      prev = char;
    }
  }
  segments.push(current);
  return segments;
}

/** A value in double quotes loses them and its backslash escapes; anything else stays. */
function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  let out = "";
  for (let i = 1; i < value.length; i++) {
    const char = value[i];
    if (char === '"') return i === value.length - 1 ? out : value;
    if (char === "\\" && i + 1 < value.length) out += value[++i];
    else out += char;
  }
  return value;
}

function splitOnce(text: string, separator: string): string[] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + separator.length)];
}

function parseSegment(
  segment: string,
): { ok: true; filter: Filter } | { ok: false; reason: string } {
  const trimmed = segment.trim();
  if (trimmed === "") {
    return { ok: false, reason: "filter must not contain empty segments (check for extra commas)" };
  }
  const colRest = splitOnce(trimmed, "=");
  if (colRest.length !== 2) return { ok: false, reason: inspect(colRest) };
  const [column, rest] = colRest;
  const negate = rest.startsWith("not.");
  const opValue = splitOnce(negate ? rest.slice(4) : rest, ".");
  if (opValue.length !== 2) return { ok: false, reason: inspect(opValue) };
  const [op, value] = opValue;
  if (!FILTER_TYPES.includes(op)) return { ok: false, reason: inspect([op, value]) };
  if (op === "in") {
    if (value.length < 2 || !value.startsWith("(") || !value.endsWith(")")) {
      return { ok: false, reason: "`in` filter value must be wrapped by parentheses" };
    }
    return { ok: true, filter: [column, op, `{${value.slice(1, -1)}}`, negate] };
  }
  return { ok: true, filter: [column, op, unquote(value), negate] };
}

function parseFilters(
  filter: string,
): { ok: true; filters: Filter[] } | { ok: false; reason: string } {
  if (filter.trim() === "") return { ok: true, filters: [] };
  const filters: Filter[] = [];
  for (const segment of splitTopLevel(filter.trim())) {
    const parsed = parseSegment(segment);
    if (!parsed.ok) return parsed;
    filters.push(parsed.filter);
  }
  return { ok: true, filters };
}

/** The client's binding object (without the `id` the join reply added), read as Realtime reads it. */
export function parseSubscriptionParams(params: Record<string, unknown>): Parsed {
  const action = actionFilter(params.event);
  let selected: string[] | null = null;
  if (Array.isArray(params.select)) {
    const columns = params.select.filter((c): c is string => typeof c === "string");
    selected = columns.length > 0 ? columns : null;
  } else if (typeof params.select === "string") {
    return {
      ok: false,
      message:
        'Error parsing `select` params: expected a list of column name strings, e.g. select: ["col1", "col2"]',
    };
  }
  const has = (key: string) => Object.hasOwn(params, key);
  const { schema, table, filter } = params;
  let result: SubscriptionParams;
  if (typeof schema === "string" && typeof table === "string" && typeof filter === "string") {
    const parsed = parseFilters(filter);
    if (!parsed.ok) {
      return { ok: false, message: `Error parsing \`filter\` params: ${parsed.reason}` };
    }
    result = {
      actionFilter: action,
      schema,
      table,
      filters: parsed.filters,
      selectedColumns: selected,
    };
  } else if (typeof schema === "string" && typeof table === "string" && !has("filter")) {
    result = { actionFilter: action, schema, table, filters: [], selectedColumns: selected };
  } else if (typeof schema === "string" && !has("table") && !has("filter")) {
    result = { actionFilter: action, schema, table: "*", filters: [], selectedColumns: selected };
  } else if (typeof table === "string" && !has("schema") && !has("filter")) {
    result = {
      actionFilter: action,
      schema: "public",
      table,
      filters: [],
      selectedColumns: selected,
    };
  } else {
    const shown = has("user_token") || has("auth_token") ? "<redacted>" : inspect(params);
    return {
      ok: false,
      message:
        `No subscription params provided. Please provide at least a \`schema\` or \`table\` to subscribe to: ${shown}`,
    };
  }
  if (selected && (result.schema === "*" || result.table === "*")) {
    return {
      ok: false,
      message:
        "Column selection is not supported for wildcard subscriptions. Provide an explicit schema and table name.",
    };
  }
  return { ok: true, params: result };
}

/** SQLSTATE condition names Postgrex prints, for the errors subscribing can meet. */
const CONDITION_NAMES: Record<string, string> = {
  P0001: "raise_exception",
  "22P02": "invalid_text_representation",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22003": "numeric_value_out_of_range",
  "22023": "invalid_parameter_value",
  "22001": "string_data_right_truncation",
  "2201B": "invalid_regular_expression",
  "42704": "undefined_object",
  "42883": "undefined_function",
  "42P01": "undefined_table",
  "42703": "undefined_column",
  "42501": "insufficient_privilege",
  "0A000": "feature_not_supported",
};

/** A database error as Postgrex's Exception.message prints it: `ERROR P0001 (raise_exception) …`. */
export function postgrexMessage(
  error: { code?: string; severity?: string; message: string },
): string {
  const code = error.code ?? "XX000";
  return `${error.severity ?? "ERROR"} ${code} (${
    CONDITION_NAMES[code] ?? "internal_error"
  }) ${error.message}`;
}

export function notEnabledMessage(p: SubscriptionParams): string {
  return `Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [${
    paramsToLog(p)
  }]`;
}

export function exceptionMessage(p: SubscriptionParams, exception: string): string {
  return `Unable to subscribe to changes with given parameters. An exception happened so please check your connect parameters: [${
    paramsToLog(p)
  }]. Exception: ${exception}`;
}
