// Prisma CLI configuration, for users whose machine has Prisma's schema engine
// (`npx prisma migrate deploy`). AutoTLS itself applies the same migration files
// without the engine; see docs/migrations.md.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/autotls' },
});
