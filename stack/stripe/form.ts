// Stripe's request encoding: application/x-www-form-urlencoded with bracket notation, as the
// SDKs write it (`metadata[order_id]=1`, `line_items[0][price_data][unit_amount]=500`,
// `expand[0]=line_items` or `expand[]=line_items`). Query strings of GET requests use the same.

/** A decoded parameter tree: every leaf is a string, as Stripe receives it. */
export type Param = string | Param[] | { [key: string]: Param };
export type Params = { [key: string]: Param };

function decode(part: string): string {
  return decodeURIComponent(part.replace(/\+/g, " "));
}

/** `a[b][0][]` → ["a", "b", "0", ""]; a key without brackets is one segment. */
function segments(key: string): string[] {
  const open = key.indexOf("[");
  if (open <= 0) return [key];
  const result = [key.slice(0, open)];
  const pattern = /\[([^\]]*)\]/g;
  pattern.lastIndex = open;
  let match: RegExpExecArray | null;
  let end = open;
  while ((match = pattern.exec(key)) !== null && match.index === end) {
    result.push(match[1]);
    end = pattern.lastIndex;
  }
  // Anything after the brackets (`a[b]c`) is kept as part of the last segment, as qs does.
  if (end < key.length) result[result.length - 1] += key.slice(end);
  return result;
}

type Node = { [key: string]: Node | string };

/** Objects whose keys are all array indices (or pushes) become arrays, in index order. */
function finish(node: Node | string): Param {
  if (typeof node === "string") return node;
  const keys = Object.keys(node);
  if (keys.length > 0 && keys.every((key) => /^\d+$/.test(key) || key.startsWith("\u0000"))) {
    return keys
      .map((key) =>
        [key.startsWith("\u0000") ? Number(key.slice(1)) + 1e9 : Number(key), key] as const
      )
      .sort((a, b) => a[0] - b[0])
      .map(([, key]) => finish(node[key] as Node | string));
  }
  const result: Params = {};
  for (const key of keys) result[key] = finish(node[key] as Node | string);
  return result;
}

export function parseForm(text: string): Params {
  const root: Node = {};
  const pushes = new WeakMap<Node, number>();
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    const path = segments(key);
    let node: Node = root;
    path.forEach((segment, index) => {
      // `[]` appends: give it a key that sorts after explicit indices, in arrival order.
      let name = segment;
      if (segment === "") {
        const count = (pushes.get(node) ?? 0) + 1;
        pushes.set(node, count);
        name = `\u0000${count}`;
      }
      if (index === path.length - 1) {
        node[name] = value;
        return;
      }
      const next = node[name];
      if (typeof next !== "object") node[name] = {} as Node;
      node = node[name] as Node;
    });
  }
  const result = finish(root);
  return Array.isArray(result) || typeof result === "string" ? {} : result;
}
