#!/usr/bin/env node
// Derives prisma/sqlite/schema.prisma from prisma/schema.prisma and generates both
// Prisma clients. Prisma binds a client to one provider, and AutoTLS runs on SQLite
// (embedded default) and PostgreSQL (production), so there are two clients with the
// same models.
//
// `prisma generate` does not use the native schema engine, but the CLI insists on
// finding one: point it at any existing file when no engine is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function deriveSqliteSchema(postgresSchema) {
  return postgresSchema
    .replace(/^\/\/ AutoTLS data model.*\n(\/\/.*\n)*/m, '// GENERATED from prisma/schema.prisma by scripts/prisma-generate.mjs. Do not edit.\n')
    .replace('provider = "postgresql"', 'provider = "sqlite"')
    .replace('output       = "../src/generated/postgres"', 'output       = "../../src/generated/sqlite"')
    .replace(/@id\(map: "[a-z_]+"\)/g, "@id")
    .replace(/ @db\.[A-Za-z]+(\([0-9, ]*\))?/g, '');
}

function main() {
  const pg = readFileSync(join(root, 'prisma/schema.prisma'), 'utf8');
  writeFileSync(join(root, 'prisma/sqlite/schema.prisma'), deriveSqliteSchema(pg));
  const env = { ...process.env };
  if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
    const engine = join(root, 'node_modules/@prisma/engines/package.json');
    env.PRISMA_SCHEMA_ENGINE_BINARY = existsSync(engine) ? engine : join(root, 'package.json');
  }
  const prisma = join(root, 'node_modules/prisma/build/index.js');
  for (const schema of ['prisma/schema.prisma', 'prisma/sqlite/schema.prisma']) {
    execFileSync(process.execPath, [prisma, 'generate', '--schema', schema], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
