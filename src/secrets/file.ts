import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { assertSafeSecretName, SecretsStoreError, type SecretsStore } from './provider.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * Secrets as files under one directory: `pem-secret/example.com/private_key`
 * becomes `<dir>/pem-secret/example.com/private_key`.
 *
 * - Every name goes through `assertSafeSecretName`, and the resolved path is
 *   checked to stay inside `dir` (defence in depth against a future change of
 *   the name rules).
 * - A write goes to a temporary file (mode 0600) in the target directory, is
 *   fsynced and then renamed over the target, so a reader sees the old value or
 *   the new one, never a partial file. Directories are created with mode 0700.
 * - Tags are ignored: they are metadata for the AWS console and cost tracking,
 *   and a sidecar file would take names away from the secret namespace.
 * - A name cannot be both a secret and the parent of another secret (`a` and
 *   `a/b`): the file system cannot hold both, and such a `put` fails.
 */
export class FileSecretsStore implements SecretsStore {
  readonly name = 'file';
  private readonly root: string;

  constructor(
    dir: string,
    private readonly logger?: Logger,
  ) {
    this.root = path.resolve(dir);
  }

  async get(name: string): Promise<string | undefined> {
    const file = this.pathFor(name);
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      const code = errnoCode(err);
      // ENOTDIR: a parent is a secret file; EISDIR: the name is only a parent.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw new SecretsStoreError(`Could not read secret ${name} (${code ?? 'unknown error'})`, { cause: err });
    }
  }

  async put(name: string, value: string, _tags?: Record<string, string>): Promise<void> {
    const file = this.pathFor(name);
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, FILE_MODE);
      try {
        await handle.writeFile(value, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      await syncDir(dir);
      this.logger?.debug({ secretName: name, store: this.name }, 'secret stored');
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      const code = errnoCode(err);
      const hint = code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR' ? ': a part of the name is already used by another secret' : '';
      throw new SecretsStoreError(`Could not write secret ${name} (${code ?? 'unknown error'})${hint}`, { cause: err });
    }
  }

  async delete(name: string): Promise<void> {
    const file = this.pathFor(name);
    try {
      await unlink(file);
      await syncDir(path.dirname(file));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw new SecretsStoreError(`Could not delete secret ${name} (${code ?? 'unknown error'})`, { cause: err });
    }
  }

  private pathFor(name: string): string {
    assertSafeSecretName(name);
    const file = path.resolve(this.root, ...name.split('/'));
    if (!file.startsWith(this.root + path.sep)) {
      throw new SecretsStoreError(`Invalid secret name ${JSON.stringify(name)}`);
    }
    return file;
  }
}

/** Makes a rename durable; some file systems refuse to open a directory, which is not fatal. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
