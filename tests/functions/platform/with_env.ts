// Runs a test body with some environment variables set, and puts them back afterwards.
export async function withEnv(
  variables: Record<string, string | undefined>,
  body: () => void | Promise<void>,
): Promise<void> {
  const saved = Object.keys(variables).map((name) => [name, Deno.env.get(name)] as const);
  const apply = (name: string, value: string | undefined) =>
    value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
  try {
    for (const [name, value] of Object.entries(variables)) apply(name, value);
    await body();
  } finally {
    for (const [name, value] of saved) apply(name, value);
  }
}
