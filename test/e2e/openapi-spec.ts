// docs/openapi.json as a response validator (ajv, JSON Schema draft 2020-12,
// the dialect of OpenAPI 3.1). Used by the unit test of the document and by
// the end-to-end test that checks real responses against it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { ROOT } from './cli-helpers.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface OpenApiDocument extends JsonObject {
  openapi: string;
  paths: { [path: string]: JsonObject };
  components: JsonObject & { schemas: { [name: string]: JsonObject } };
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export function loadOpenApi(): OpenApiDocument {
  return JSON.parse(readFileSync(join(ROOT, 'docs', 'openapi.json'), 'utf8')) as OpenApiDocument;
}

const COMPONENTS_ID = 'https://autotls.invalid/openapi/components.json';

/** OpenAPI's own schema keywords besides JSON Schema's. */
const OPENAPI_KEYWORDS = ['example', 'discriminator', 'xml', 'externalDocs'];

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a local `$ref` (`#/a/b`) through the document. */
export function resolvePointer(doc: Json, ref: string): Json | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let node: Json | undefined = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** `value` itself, or what its `$ref` points at (components: responses, parameters, headers…). */
export function deref(doc: Json, value: Json | undefined): Json | undefined {
  let current = value;
  for (let i = 0; i < 10 && isObject(current) && typeof current.$ref === 'string' && Object.keys(current).length === 1; i++) {
    current = resolvePointer(doc, current.$ref);
  }
  return current;
}

/** A deep copy with `#/components/schemas/X` refs made absolute (into the components schema registered with ajv). */
function rewriteRefs(value: Json): Json {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/') ? `${COMPONENTS_ID}#/$defs/${inner.slice('#/components/schemas/'.length)}` : rewriteRefs(inner);
  }
  return out;
}

export function createAjv(doc: OpenApiDocument): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, validateFormats: true });
  formats.default(ajv);
  ajv.addVocabulary(OPENAPI_KEYWORDS);
  ajv.addSchema({ $id: COMPONENTS_ID, $defs: rewriteRefs(doc.components.schemas) as JsonObject });
  return ajv;
}

export interface ResponseCheck {
  ok: boolean;
  problems: string[];
}

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/**
 * Checks real responses against the document: the status code must be listed
 * for the operation, the media type declared, the body valid against its schema
 * and every required header present and valid.
 */
export class ResponseValidator {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = createAjv(doc);
  }

  private schemaValidator(key: string, schema: Json): ValidateFunction {
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rewriteRefs(schema) as JsonObject);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  check(pathTemplate: string, method: string, status: number, headers: Headers, body: Json | string): ResponseCheck {
    const problems: string[] = [];
    const operation = this.doc.paths[pathTemplate]?.[method.toLowerCase()];
    if (!isObject(operation)) return { ok: false, problems: [`${method.toUpperCase()} ${pathTemplate} is not in the document`] };
    const responses = operation.responses;
    const response = deref(this.doc, isObject(responses) ? (responses[String(status)] ?? responses.default) : undefined);
    if (!isObject(response)) return { ok: false, problems: [`status ${status} is not listed for ${method.toUpperCase()} ${pathTemplate}`] };

    const contentType = (headers.get('content-type') ?? '').toLowerCase();
    const content = response.content;
    if (isObject(content)) {
      const mediaKey = Object.keys(content).find((m) => contentType.startsWith(m.split(';')[0]?.trim().toLowerCase() ?? m));
      const media = mediaKey === undefined ? undefined : content[mediaKey];
      if (!isObject(media)) problems.push(`content type ${JSON.stringify(contentType)} is not declared for ${status} (declared: ${Object.keys(content).join(', ')})`);
      else if (media.schema !== undefined) {
        const validate = this.schemaValidator(`${pathTemplate} ${method} ${status} ${mediaKey}`, media.schema);
        if (!validate(body)) problems.push(...describeErrors(validate.errors));
      }
    }

    const declaredHeaders = response.headers;
    if (isObject(declaredHeaders)) {
      for (const [name, raw] of Object.entries(declaredHeaders)) {
        const header = deref(this.doc, raw);
        if (!isObject(header)) continue;
        const value = headers.get(name);
        if (value === null) {
          if (header.required === true) problems.push(`required header ${name} is missing`);
          continue;
        }
        if (header.schema !== undefined) {
          const validate = this.schemaValidator(`${pathTemplate} ${method} ${status} header ${name}`, header.schema);
          if (!validate(value)) problems.push(...describeErrors(validate.errors).map((p) => `header ${name}: ${p}`));
        }
      }
    }
    return { ok: problems.length === 0, problems };
  }
}
