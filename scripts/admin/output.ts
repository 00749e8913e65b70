// What a command prints: the same result as JSON (--json, for scripts) or as text for a
// person at a terminal, mostly aligned tables.

/** A command's result: the data --json prints, and how to show it to a person. */
export interface Result {
  data: unknown;
  text: () => string;
  /** 1 when the command ran but found something wrong (reconcile's differences); 0 by default. */
  exitCode?: number;
}

export type Column<Row> = [heading: string, cell: (row: Row) => unknown];

/** Rows as an aligned table with a heading line, or a note when there are none. */
export function table<Row>(rows: Row[], columns: Column<Row>[], none = "(none)"): string {
  if (rows.length === 0) return none;
  const cells = rows.map((row) => columns.map(([, cell]) => show(cell(row))));
  const headings = columns.map(([heading]) => heading);
  const widths = headings.map((heading, i) =>
    Math.max(heading.length, ...cells.map((line) => line[i].length))
  );
  const line = (values: string[]) =>
    values.map((value, i) => value.padEnd(widths[i])).join("  ").trimEnd();
  return [line(headings), ...cells.map(line)].join("\n");
}

/** Label: value lines, labels aligned. */
export function fields(entries: [label: string, value: unknown][]): string {
  const width = Math.max(...entries.map(([label]) => label.length));
  return entries.map(([label, value]) => `${`${label}:`.padEnd(width + 1)} ${show(value)}`).join(
    "\n",
  );
}

/** Sections of text, each under its title. */
export function sections(parts: [title: string, body: string][]): string {
  return parts.map(([title, body]) => `${title}\n${body}`).join("\n\n");
}

/** A timestamp to the minute in UTC, which is all a person scanning a table needs. */
export function when(timestamp: string | null | undefined): string {
  if (!timestamp) return "-";
  return new Date(timestamp).toISOString().slice(0, 16).replace("T", " ");
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (Array.isArray(value)) return value.length > 0 ? value.join(",") : "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
