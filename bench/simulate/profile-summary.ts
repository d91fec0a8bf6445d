// Reads the CPU profiles of a simulator run (`node --cpu-prof --cpu-prof-dir DIR --import tsx bench/simulate/main.ts ...`)
// and prints where the time went: `node --import tsx bench/simulate/profile-summary.ts DIR`.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatProfile, summariseProfile } from '../lib/profile.js';
import { repoRoot } from '../lib/args.js';

const dir = process.argv[2] ?? 'bench/profiles';
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const summary = summariseProfile(join(dir, file), repoRoot, undefined, 25);
  process.stdout.write(`${file}\n${formatProfile(summary, 25)}\n\n`);
}
