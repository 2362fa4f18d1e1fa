/**
 * JSON text byte for byte as Python's `json.dumps` writes it, for files and outputs the
 * Python client reads or scripts written against it compare: `ensure_ascii` (everything
 * outside printable ASCII, DEL included, as `\uXXXX`), `", "` and `": "` between items when
 * compact, `indent` as `json.dump(indent=N)` (then `","` at line ends, as JavaScript too).
 *
 * @module
 */

/**
 * `json.dumps(value)` (or `json.dumps(value, indent=indent)`). Numbers are written as
 * JavaScript writes them, which equals Python for integers (all that our outputs hold).
 */
export function pythonJsonDumps(value: unknown, indent?: number): string {
  return asciiOnly(indent === undefined ? compact(value) : JSON.stringify(value, null, indent));
}

function compact(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => compact(v ?? null)).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const items = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${items.map(([k, v]) => `${JSON.stringify(k)}: ${compact(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function asciiOnly(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
