// docs/openapi.yaml (the source) and docs/openapi.json (generated, served at
// /openapi.json): in sync, structurally valid OpenAPI 3.1, and describing the
// HTTP API of contract section 2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { OPENAPI_JSON, OPENAPI_YAML, renderOpenApiJson } from '../../../scripts/gen-openapi.js';
import { ROOT } from '../../e2e/cli-helpers.js';
import { createAjv, deref, HTTP_METHODS, isObject, loadOpenApi, resolvePointer, type Json, type JsonObject, type OpenApiDocument } from '../../e2e/openapi-spec.js';

const doc = loadOpenApi();

/**
 * The structure of an OpenAPI 3.1 document, as a JSON Schema (a subset of the
 * official schema at spec.openapis.org/oas/3.1/schema: every object AutoTLS
 * uses, closed with unevaluatedProperties so a misspelt field is an error).
 */
const extensions = { '^x-': true };
const orRef = (def: string): JsonObject => ({ if: { type: 'object', required: ['$ref'] }, then: { $ref: '#/$defs/reference' }, else: { $ref: `#/$defs/${def}` } });
const mapOf = (def: string): JsonObject => ({ type: 'object', additionalProperties: orRef(def) });
const OAS_31: JsonObject = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['openapi', 'info'],
  anyOf: [{ required: ['paths'] }, { required: ['components'] }, { required: ['webhooks'] }],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+(-.+)?$' },
    info: { $ref: '#/$defs/info' },
    jsonSchemaDialect: { type: 'string', format: 'uri' },
    servers: { type: 'array', items: { $ref: '#/$defs/server' } },
    paths: { $ref: '#/$defs/paths' },
    webhooks: { type: 'object', additionalProperties: { $ref: '#/$defs/path-item' } },
    components: { $ref: '#/$defs/components' },
    security: { type: 'array', items: { $ref: '#/$defs/security-requirement' } },
    tags: { type: 'array', items: { $ref: '#/$defs/tag' } },
    externalDocs: { $ref: '#/$defs/external-docs' },
  },
  patternProperties: extensions,
  unevaluatedProperties: false,
  $defs: {
    info: {
      type: 'object',
      required: ['title', 'version'],
      properties: {
        title: { type: 'string' },
        summary: { type: 'string' },
        description: { type: 'string' },
        termsOfService: { type: 'string', format: 'uri' },
        contact: { type: 'object' },
        license: { type: 'object', required: ['name'] },
        version: { type: 'string' },
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    server: {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string' }, description: { type: 'string' }, variables: { type: 'object' } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    'external-docs': {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', format: 'uri' }, description: { type: 'string' } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    tag: {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string' }, description: { type: 'string' }, externalDocs: { $ref: '#/$defs/external-docs' } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    reference: {
      type: 'object',
      required: ['$ref'],
      properties: { $ref: { type: 'string', format: 'uri-reference' }, summary: { type: 'string' }, description: { type: 'string' } },
      unevaluatedProperties: false,
    },
    paths: {
      type: 'object',
      patternProperties: { '^/': { $ref: '#/$defs/path-item' }, ...extensions },
      additionalProperties: false,
    },
    'path-item': {
      type: 'object',
      properties: {
        $ref: { type: 'string', format: 'uri-reference' },
        summary: { type: 'string' },
        description: { type: 'string' },
        servers: { type: 'array', items: { $ref: '#/$defs/server' } },
        parameters: { type: 'array', items: orRef('parameter') },
        ...Object.fromEntries(HTTP_METHODS.map((m) => [m, { $ref: '#/$defs/operation' }])),
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    operation: {
      type: 'object',
      required: ['responses'],
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        summary: { type: 'string' },
        description: { type: 'string' },
        externalDocs: { $ref: '#/$defs/external-docs' },
        operationId: { type: 'string' },
        parameters: { type: 'array', items: orRef('parameter') },
        requestBody: orRef('request-body'),
        responses: { $ref: '#/$defs/responses' },
        callbacks: { type: 'object' },
        deprecated: { type: 'boolean' },
        security: { type: 'array', items: { $ref: '#/$defs/security-requirement' } },
        servers: { type: 'array', items: { $ref: '#/$defs/server' } },
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    responses: {
      type: 'object',
      minProperties: 1,
      patternProperties: { '^[1-5](?:[0-9]{2}|XX)$': orRef('response'), ...extensions },
      properties: { default: orRef('response') },
      additionalProperties: false,
    },
    response: {
      type: 'object',
      required: ['description'],
      properties: {
        description: { type: 'string' },
        headers: mapOf('header'),
        content: { $ref: '#/$defs/content' },
        links: { type: 'object' },
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    content: { type: 'object', additionalProperties: { $ref: '#/$defs/media-type' } },
    'media-type': {
      type: 'object',
      properties: { schema: { $ref: '#/$defs/schema' }, example: true, examples: { type: 'object' }, encoding: { type: 'object' } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    schema: { type: ['object', 'boolean'] },
    parameter: {
      type: 'object',
      required: ['name', 'in'],
      properties: {
        name: { type: 'string' },
        in: { enum: ['query', 'header', 'path', 'cookie'] },
        description: { type: 'string' },
        required: { type: 'boolean' },
        deprecated: { type: 'boolean' },
        allowEmptyValue: { type: 'boolean' },
        style: { type: 'string' },
        explode: { type: 'boolean' },
        allowReserved: { type: 'boolean' },
        schema: { $ref: '#/$defs/schema' },
        content: { $ref: '#/$defs/content' },
        example: true,
        examples: { type: 'object' },
      },
      oneOf: [{ required: ['schema'] }, { required: ['content'] }],
      if: { properties: { in: { const: 'path' } } },
      then: { required: ['required'], properties: { required: { const: true } } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    header: {
      type: 'object',
      properties: {
        description: { type: 'string' },
        required: { type: 'boolean' },
        deprecated: { type: 'boolean' },
        style: { const: 'simple' },
        explode: { type: 'boolean' },
        schema: { $ref: '#/$defs/schema' },
        content: { $ref: '#/$defs/content' },
        example: true,
        examples: { type: 'object' },
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    'request-body': {
      type: 'object',
      required: ['content'],
      properties: { description: { type: 'string' }, content: { $ref: '#/$defs/content' }, required: { type: 'boolean' } },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    'security-scheme': {
      type: 'object',
      required: ['type'],
      properties: {
        type: { enum: ['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'] },
        description: { type: 'string' },
        name: { type: 'string' },
        in: { enum: ['query', 'header', 'cookie'] },
        scheme: { type: 'string' },
        bearerFormat: { type: 'string' },
        flows: { type: 'object' },
        openIdConnectUrl: { type: 'string', format: 'uri' },
      },
      allOf: [
        { if: { properties: { type: { const: 'apiKey' } } }, then: { required: ['name', 'in'] } },
        { if: { properties: { type: { const: 'http' } } }, then: { required: ['scheme'] } },
      ],
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
    'security-requirement': { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object', additionalProperties: { $ref: '#/$defs/schema' } },
        responses: mapOf('response'),
        parameters: mapOf('parameter'),
        examples: { type: 'object' },
        requestBodies: mapOf('request-body'),
        headers: mapOf('header'),
        securitySchemes: mapOf('security-scheme'),
        links: { type: 'object' },
        callbacks: { type: 'object' },
        pathItems: { type: 'object', additionalProperties: { $ref: '#/$defs/path-item' } },
      },
      patternProperties: extensions,
      unevaluatedProperties: false,
    },
  },
};

function walk(node: Json, visit: (value: JsonObject, path: string) => void, path = '#'): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}/${i}`));
  else if (isObject(node)) {
    visit(node, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

function operations(): Array<{ path: string; method: string; op: JsonObject; pathItem: JsonObject }> {
  return Object.entries(doc.paths).flatMap(([path, pathItem]) =>
    HTTP_METHODS.filter((m) => isObject(pathItem[m])).map((method) => ({ path, method, op: pathItem[method] as JsonObject, pathItem })),
  );
}

function statuses(path: string, method: string): string[] {
  const op = doc.paths[path]?.[method];
  return isObject(op) && isObject(op.responses) ? Object.keys(op.responses) : [];
}

describe('docs/openapi.json', () => {
  it(`is generated from ${OPENAPI_YAML} (run: node --import tsx scripts/gen-openapi.ts)`, () => {
    const yaml = readFileSync(join(ROOT, OPENAPI_YAML), 'utf8');
    expect(readFileSync(join(ROOT, OPENAPI_JSON), 'utf8') === renderOpenApiJson(yaml)).toBe(true);
  });

  it('is a structurally valid OpenAPI 3.1 document', () => {
    // strictRequired is off for this one: `anyOf: [{required: [paths]}, …]` names properties defined beside it.
    const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
    formats.default(ajv);
    const validate = ajv.compile(OAS_31);
    expect(validate(doc), JSON.stringify(validate.errors, null, 2)).toBe(true);

    // …and the structural schema does catch the usual mistakes.
    const broken = (mutate: (d: OpenApiDocument) => void): boolean => {
      const copy = structuredClone(doc);
      mutate(copy);
      return validate(copy);
    };
    expect(broken((d) => (d.openapi = '3.0.3'))).toBe(false);
    expect(broken((d) => ((d.paths['/healthcheck'] as JsonObject).get = { reponses: {} }))).toBe(false);
    expect(broken((d) => (((d.paths['/runs/{id}'] as JsonObject).get as JsonObject).responses = { '20x': { description: 'x' } }))).toBe(false);
    expect(broken((d) => (((d.paths['/runs/{id}'] as JsonObject).get as JsonObject).parameters = [{ name: 'id', in: 'path', schema: {} }]))).toBe(false);
    expect(broken((d) => ((d.components.securitySchemes as JsonObject).FlaskKey = { type: 'apiKey', in: 'header' }))).toBe(false);
  });

  it('has only references that resolve', () => {
    const broken: string[] = [];
    walk(doc, (value, path) => {
      if (typeof value.$ref === 'string' && resolvePointer(doc, value.$ref) === undefined) broken.push(`${path}: ${value.$ref}`);
    });
    expect(broken).toEqual([]);
  });

  it('declares every path template parameter, and unique operation ids', () => {
    const ids = new Set<string>();
    for (const { path, method, op, pathItem } of operations()) {
      const declared = [...((pathItem.parameters as Json[] | undefined) ?? []), ...((op.parameters as Json[] | undefined) ?? [])]
        .map((p) => deref(doc, p))
        .filter(isObject)
        .filter((p) => p.in === 'path')
        .map((p) => p.name);
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(declared.sort(), `${method} ${path}`).toEqual(inTemplate.sort());
      expect(typeof op.operationId).toBe('string');
      expect(ids.has(op.operationId as string), `duplicate operationId ${String(op.operationId)}`).toBe(false);
      ids.add(op.operationId as string);
    }
  });

  it('has schemas that compile as JSON Schema 2020-12 (strict)', () => {
    const ajv = createAjv(doc);
    // Every schema of a media type, parameter or header, wherever it sits (paths or components).
    walk(doc, (value, path) => {
      if (isObject(value.schema)) expect(() => ajv.compile(JSON.parse(JSON.stringify(value.schema).replaceAll('"#/components/schemas/', '"https://autotls.invalid/openapi/components.json#/$defs/')) as JsonObject), path).not.toThrow();
    });
    for (const name of Object.keys(doc.components.schemas)) {
      expect(ajv.getSchema(`https://autotls.invalid/openapi/components.json#/$defs/${name}`), name).toBeTypeOf('function');
    }
  });
});

describe('the HTTP API of contract section 2', () => {
  it('describes exactly the endpoints and methods of the service', () => {
    const described = operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`).sort();
    expect(described).toEqual(
      [
        'GET /healthcheck',
        'GET /readyz',
        'GET /process',
        'POST /process',
        'GET /single/{domain}',
        'POST /single/{domain}',
        'GET /runs',
        'GET /runs/{id}',
        'GET /metrics',
        'GET /openapi.json',
      ].sort(),
    );
  });

  it('requires the key (Flask-Key header or Bearer) everywhere except /healthcheck, /readyz and /metrics', () => {
    const schemes = (doc.components.securitySchemes ?? {}) as JsonObject;
    expect(schemes.FlaskKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'Flask-Key' });
    expect(schemes.BearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ FlaskKey: [] }, { BearerAuth: [] }]);
    for (const { path, op } of operations()) {
      if (path === '/healthcheck' || path === '/readyz' || path === '/metrics') {
        expect(op.security, path).toEqual([]);
        expect(statuses(path, 'get'), path).not.toContain('401');
      } else {
        expect(op.security, path).toBeUndefined();
        expect(statuses(path, 'get'), path).toContain('401');
      }
    }
  });

  it('lists the status codes of the contract', () => {
    const all = new Set(operations().flatMap(({ path, method }) => statuses(path, method)));
    for (const code of ['200', '202', '400', '401', '404', '409', '413', '415', '429', '502', '503']) expect(all.has(code), code).toBe(true);
    expect(statuses('/process', 'get')).toEqual(expect.arrayContaining(['200', '202', '400', '401', '502']));
    expect(statuses('/process', 'get')).not.toContain('409');
    expect(statuses('/single/{domain}', 'get')).toEqual(expect.arrayContaining(['200', '202', '400', '401', '404', '409', '502']));
    expect(statuses('/single/{domain}', 'post')).toEqual(expect.arrayContaining(['413', '415']));
    expect(statuses('/readyz', 'get')).toEqual(expect.arrayContaining(['200', '503']));
    expect(statuses('/runs/{id}', 'get')).toEqual(expect.arrayContaining(['200', '404']));
  });

  it('has the run document exactly as the contract gives it', () => {
    const ajv = createAjv(doc);
    const validate = ajv.getSchema('https://autotls.invalid/openapi/components.json#/$defs/RunDocument');
    if (!validate) throw new Error('RunDocument schema missing');
    const result = { domain: 'example.com', certificateStatus: 'new', outcome: 'issued', notAfter: '2026-03-01T00:00:00.000Z', messages: ['m'], errors: [] };
    const run = { runId: '0b6f1e9e-5d0a-4f4e-9d7e-2f1f3c9b8a11', status: 'succeeded', testmode: false, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, results: [result] };
    expect(validate(run), JSON.stringify(validate.errors)).toBe(true);
    for (const status of ['running', 'succeeded', 'partial', 'failed', 'nothing-to-do']) expect(validate({ ...run, status }), status).toBe(true);
    for (const certificateStatus of ['ok', 'new', 'renew', 'unavailable']) expect(validate({ ...run, results: [{ ...result, certificateStatus }] })).toBe(true);
    for (const outcome of ['skipped', 'issued', 'renewed', 'failed', 'in-progress', 'deferred']) expect(validate({ ...run, results: [{ ...result, outcome }] })).toBe(true);
    expect(validate({ ...run, results: [{ ...result, notAfter: null }] })).toBe(true);

    expect(validate({ ...run, status: 'done' })).toBe(false);
    expect(validate({ ...run, extra: 1 })).toBe(false);
    expect(validate({ ...run, startedAt: 'yesterday' })).toBe(false);
    const { finishedAt: _omitted, ...withoutFinishedAt } = run;
    expect(validate(withoutFinishedAt)).toBe(false);
    expect(validate({ ...run, results: [{ ...result, outcome: 'ok' }] })).toBe(false);
    const { errors: _errors, ...withoutErrors } = result;
    expect(validate({ ...run, results: [withoutErrors] })).toBe(false);
  });

  it('has the error schema {error}', () => {
    expect(doc.components.schemas.Error).toEqual({
      type: 'object',
      required: ['error'],
      additionalProperties: false,
      properties: { error: { type: 'string', description: 'What went wrong, for a person.' } },
    });
  });
});
