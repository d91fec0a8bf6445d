import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/certificates/keys.js';
import { LETS_ENCRYPT_ISSUER } from '../../src/domains/repository.js';
import { deployToFastly } from '../../src/storage/fastly-deploy.js';
import { createFakeWorld } from './world.js';

describe('fastlyProbe', () => {
  it('reads what the in-memory Fastly serves, with the probe\'s rules', async () => {
    const world = createFakeWorld();
    const never = () => false;
    expect((await world.probe('a.test', LETS_ENCRYPT_ISSUER, never)).status).toBe('new');
    const keys = await newKeyAndCsr('a.test', 'ec256');
    const cert = await world.ca.issue({ domain: 'a.test', zone: 'Z', keyType: 'ec256', keys }, { publisher: world.publisher });
    await deployToFastly(world.fastly, { domain: 'a.test', privateKeyPem: cert.privateKeyPem, fullchainPem: cert.fullchainPem, configurationId: 'cfg' });
    expect(await world.probe('a.test', LETS_ENCRYPT_ISSUER, never)).toMatchObject({ status: 'ok', notAfter: cert.notAfter });
    expect((await world.probe('a.test', 'Other CA', never)).status).toBe('new');
    expect((await world.probe('a.test', LETS_ENCRYPT_ISSUER, () => true)).status).toBe('renew');
    world.clock.set(cert.notAfter);
    expect((await world.probe('a.test', LETS_ENCRYPT_ISSUER, never)).detail).toMatch(/expired/);
  });
});
