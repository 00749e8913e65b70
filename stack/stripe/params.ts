// Reading one request's parameters the way Stripe validates them: unknown top-level
// parameters are refused (parameter_unknown), integers and booleans are parsed from their
// form-encoded strings, enums are checked, metadata follows Stripe's limits.

import { invalidParam, missingParam } from "./errors.ts";
import type { Param, Params } from "./form.ts";

export type Metadata = Record<string, string>;

export class Reader {
  constructor(
    readonly params: Params,
    /** Prefix for nested readers' param names in errors (`line_items[0]`). */
    private readonly prefix = "",
  ) {}

  private name(key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key;
  }

  /** Refuses parameters the endpoint does not know, as Stripe does. `expand` is always allowed. */
  allow(...known: string[]): this {
    for (const key of Object.keys(this.params)) {
      if (key !== "expand" && !known.includes(key)) {
        throw invalidParam(
          `Received unknown parameter: ${this.name(key)}`,
          this.name(key),
          "parameter_unknown",
        );
      }
    }
    return this;
  }

  has(key: string): boolean {
    return this.params[key] !== undefined;
  }

  string(key: string, required: true): string;
  string(key: string, required?: false): string | undefined;
  string(key: string, required = false): string | undefined {
    const value = this.params[key];
    if (value === undefined) {
      if (required) throw missingParam(this.name(key));
      return undefined;
    }
    if (typeof value !== "string") {
      throw invalidParam(
        `Invalid string: ${JSON.stringify(value)}`,
        this.name(key),
        "parameter_invalid_string",
      );
    }
    if (required && value === "") {
      throw invalidParam(
        `You passed an empty string for '${
          this.name(key)
        }'. We assume empty values are an attempt to unset a parameter; however '${
          this.name(key)
        }' cannot be unset. You should remove '${
          this.name(key)
        }' from your request or supply a non-empty value.`,
        this.name(key),
        "parameter_invalid_empty",
      );
    }
    return value;
  }

  integer(key: string, required: true): number;
  integer(key: string, required?: false): number | undefined;
  integer(key: string, required = false): number | undefined {
    const raw = required ? this.string(key, true) : this.string(key);
    if (raw === undefined || raw === "") return undefined;
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
      throw invalidParam(`Invalid integer: ${raw}`, this.name(key), "parameter_invalid_integer");
    }
    return Number(raw);
  }

  /** A positive amount in minor units. */
  amount(key: string, required: true): number;
  amount(key: string, required?: false): number | undefined;
  amount(key: string, required = false): number | undefined {
    const value = required ? this.integer(key, true) : this.integer(key);
    if (value !== undefined && value <= 0) {
      throw invalidParam(
        "This value must be greater than or equal to 1.",
        this.name(key),
        "parameter_invalid_integer",
      );
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    const raw = this.string(key);
    if (raw === undefined || raw === "") return undefined;
    if (raw !== "true" && raw !== "false") {
      throw invalidParam(`Invalid boolean: ${raw}`, this.name(key));
    }
    return raw === "true";
  }

  oneOf<T extends string>(key: string, values: readonly T[], required: true): T;
  oneOf<T extends string>(key: string, values: readonly T[], required?: false): T | undefined;
  oneOf<T extends string>(key: string, values: readonly T[], required = false): T | undefined {
    const raw = required ? this.string(key, true) : this.string(key);
    if (raw === undefined || raw === "") return undefined;
    if (!values.includes(raw as T)) {
      throw invalidParam(
        `Invalid ${this.name(key)}: must be one of ${values.join(", ")}`,
        this.name(key),
        "parameter_invalid_string",
      );
    }
    return raw as T;
  }

  /** A lowercase ISO currency code. */
  currency(key: string, required: true): string;
  currency(key: string, required?: false): string | undefined;
  currency(key: string, required = false): string | undefined {
    const raw = required ? this.string(key, true) : this.string(key);
    if (raw === undefined || raw === "") return undefined;
    if (!/^[a-zA-Z]{3}$/.test(raw)) {
      throw invalidParam(
        `Invalid currency: ${raw.toLowerCase()}. Stripe currently supports these currencies: usd, eur, gbp, krw, ...`,
        this.name(key),
      );
    }
    return raw.toLowerCase();
  }

  /** A nested hash (`payment_intent_data[...]`), or null if absent. */
  object(key: string): Reader | null {
    const value = this.params[key];
    if (value === undefined) return null;
    if (typeof value !== "object" || Array.isArray(value)) {
      if (value === "") return new Reader({}, this.name(key));
      throw invalidParam(`Invalid object`, this.name(key), "parameter_invalid_object");
    }
    return new Reader(value, this.name(key));
  }

  /** An array of hashes (`line_items[0][...]`). */
  objects(key: string): Reader[] {
    const value = this.params[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      throw invalidParam(`Invalid array`, this.name(key), "parameter_invalid_array");
    }
    return value.map((item, index) => {
      if (typeof item !== "object" || Array.isArray(item)) {
        throw invalidParam(
          `Invalid object`,
          `${this.name(key)}[${index}]`,
          "parameter_invalid_object",
        );
      }
      return new Reader(item, `${this.name(key)}[${index}]`);
    });
  }

  /**
   * Stripe's metadata: up to 50 keys of up to 40 characters, values up to 500. Applied onto
   * `current` as Stripe applies an update: an empty value unsets a key, `metadata=` unsets all.
   */
  metadata(current: Metadata = {}): Metadata {
    const value = this.params.metadata;
    if (value === undefined) return { ...current };
    if (value === "") return {};
    const entries: [string, Param][] = Array.isArray(value)
      ? value.map((item, index) => [String(index), item])
      : typeof value === "object"
      ? Object.entries(value)
      : [];
    if (typeof value === "string") {
      throw invalidParam("Invalid hash", this.name("metadata"), "parameter_invalid_object");
    }
    const result = { ...current };
    for (const [key, item] of entries) {
      if (typeof item !== "string") throw invalidParam("Invalid string", `metadata[${key}]`);
      if (key.length > 40) {
        throw invalidParam(
          `Metadata keys can have a maximum length of 40 characters.`,
          `metadata[${key}]`,
        );
      }
      if (item.length > 500) {
        throw invalidParam(
          `Metadata values can have a maximum length of 500 characters.`,
          `metadata[${key}]`,
        );
      }
      if (item === "") delete result[key];
      else result[key] = item;
    }
    if (Object.keys(result).length > 50) {
      throw invalidParam("Metadata can have a maximum of 50 keys.", "metadata");
    }
    return result;
  }

  /** `expand[]` paths. */
  expand(): string[] {
    const value = this.params.expand;
    if (value === undefined || value === "") return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item) => {
      if (typeof item !== "string") {
        throw invalidParam("Invalid array", "expand", "parameter_invalid_array");
      }
      return item;
    });
  }
}
