/**
 * Typed access to the parts of the official `fastly` client (v13) that AutoTLS
 * uses. The package ships no type declarations, so the shapes below are written
 * from node_modules/fastly/dist (ApiClient.js, api/Tls*Api.js, model/Tls*.js).
 *
 * Only the modules we need are loaded (the package's index pulls in every
 * API and model, which costs most of a second at start-up).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The superagent request handed to ApiClient plugins before it is sent. */
export interface SuperagentRequest {
  url: string;
  method: string;
  /** superagent emits `response` for every answer received, errors included. */
  on(event: 'response', listener: (response: SuperagentResponse) => void): unknown;
}

/** A superagent response, as attached to the client's rejections. */
export interface SuperagentResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  text?: string;
}

/** What `ApiClient.callApi` rejects with: a plain object, not an Error. */
export interface FastlyClientRejection {
  status?: number;
  statusText?: string;
  body?: unknown;
  response?: SuperagentResponse;
  error?: (Error & { timeout?: number; code?: string }) | undefined;
}

export interface FastlyApiClient {
  basePath: string;
  timeout: number;
  plugins: Array<(request: SuperagentRequest) => void> | null;
  defaultHeaders: Record<string, string>;
  authentications: { token: { type: string; in: string; name: string; apiKey?: string } };
  authenticate(token: string, type?: string): void;
}

export interface FastlyApiClientClass {
  new (): FastlyApiClient;
  instance: FastlyApiClient;
}

// ---- models (after deserialisation) ---------------------------------------

export interface TlsPrivateKeyResponseData {
  id?: string;
  type?: string;
  attributes?: {
    name?: string;
    key_length?: number;
    key_type?: string;
    replace?: boolean;
    public_key_sha1?: string;
    created_at?: Date;
    updated_at?: Date;
  };
}

export interface TlsPrivateKeyResponse {
  data?: TlsPrivateKeyResponseData;
}

export interface PaginationMeta {
  current_page?: number;
  per_page?: number;
  record_count?: number;
  total_pages?: number;
}

export interface PaginationLinks {
  first?: string | null;
  last?: string | null;
  prev?: string | null;
  next?: string | null;
}

export interface TlsPrivateKeysResponse {
  data?: TlsPrivateKeyResponseData[];
  links?: PaginationLinks;
  meta?: PaginationMeta;
}

export interface TlsBulkCertificateResponseData {
  id?: string;
  type?: string;
  attributes?: {
    not_after?: Date;
    not_before?: Date;
    created_at?: Date;
    updated_at?: Date;
    replace?: boolean;
  };
  relationships?: {
    tls_configurations?: { data?: Array<{ type?: string; id?: string }> };
    tls_domains?: { data?: Array<{ type?: string; id?: string }> };
  };
}

export interface TlsBulkCertificateResponse {
  data?: TlsBulkCertificateResponseData;
}

export interface TlsBulkCertificatesResponse {
  data?: TlsBulkCertificateResponseData[];
  links?: PaginationLinks;
  meta?: PaginationMeta;
}

export interface TlsConfigurationResponseData {
  id?: string;
  type?: string;
  attributes?: {
    name?: string;
    default?: boolean;
    bulk?: boolean;
    http_protocols?: string[];
    tls_protocols?: string[];
    created_at?: Date;
    updated_at?: Date;
  };
}

export interface TlsConfigurationResponse {
  data?: TlsConfigurationResponseData;
}

// ---- request bodies -------------------------------------------------------

export interface TlsPrivateKeyBody {
  data: { type: 'tls_private_key'; attributes: { key: string; name: string } };
}

export interface TlsBulkCertificateBody {
  data: {
    type: 'tls_bulk_certificate';
    id?: string;
    attributes: { cert_blob: string; intermediates_blob: string; allow_untrusted_root: boolean };
    relationships?: { tls_configurations: { data: Array<{ type: 'tls_configuration'; id: string }> } };
  };
}

// ---- APIs -----------------------------------------------------------------

export interface TlsPrivateKeysApi {
  createTlsKey(options: { tls_private_key: TlsPrivateKeyBody }): Promise<TlsPrivateKeyResponse>;
  deleteTlsKey(options: { tls_private_key_id: string }): Promise<null>;
  getTlsKey(options: { tls_private_key_id: string }): Promise<TlsPrivateKeyResponse>;
  listTlsKeys(options: { filter_in_use?: string; page_number?: number; page_size?: number }): Promise<TlsPrivateKeysResponse>;
}

export interface TlsBulkCertificatesApi {
  deleteBulkTlsCert(options: { certificate_id: string }): Promise<null>;
  getTlsBulkCert(options: { certificate_id: string }): Promise<TlsBulkCertificateResponse>;
  listTlsBulkCerts(options: {
    filter_tls_domain_id?: string;
    page_number?: number;
    page_size?: number;
    sort?: string;
  }): Promise<TlsBulkCertificatesResponse>;
  updateBulkTlsCert(options: { certificate_id: string; tls_bulk_certificate: TlsBulkCertificateBody }): Promise<TlsBulkCertificateResponse>;
  uploadTlsBulkCert(options: { tls_bulk_certificate: TlsBulkCertificateBody }): Promise<TlsBulkCertificateResponse>;
}

export interface TlsConfigurationsApi {
  getTlsConfig(options: { tls_configuration_id: string; include?: string }): Promise<TlsConfigurationResponse>;
}

interface EsModule<T> {
  default: T;
}

export const ApiClient = (require('fastly/dist/ApiClient.js') as EsModule<FastlyApiClientClass>).default;
const TlsPrivateKeysApiClass = (require('fastly/dist/api/TlsPrivateKeysApi.js') as EsModule<new (client: FastlyApiClient) => TlsPrivateKeysApi>)
  .default;
const TlsBulkCertificatesApiClass = (
  require('fastly/dist/api/TlsBulkCertificatesApi.js') as EsModule<new (client: FastlyApiClient) => TlsBulkCertificatesApi>
).default;
const TlsConfigurationsApiClass = (
  require('fastly/dist/api/TlsConfigurationsApi.js') as EsModule<new (client: FastlyApiClient) => TlsConfigurationsApi>
).default;

/** The host every generated operation hard-codes as its base path (it ignores `ApiClient.basePath`). */
export const FASTLY_DEFAULT_BASE = 'https://api.fastly.com';

export interface FastlyClients {
  apiClient: FastlyApiClient;
  privateKeys: TlsPrivateKeysApi;
  bulkCertificates: TlsBulkCertificatesApi;
  configurations: TlsConfigurationsApi;
}

/**
 * A private ApiClient (never the shared `ApiClient.instance`) with our token, URL
 * and timeout, and the three API objects built on it.
 *
 * - The generated operations pass `https://api.fastly.com` as a per-operation base
 *   path, so `basePath` has no effect; a request plugin rewrites the URL prefix.
 * - Every `*Api` constructor calls `authenticate(process.env.FASTLY_API_TOKEN)` when
 *   that variable is set, so the APIs are built first and our token is set after.
 */
export function createFastlyClients(options: {
  apiToken: string;
  apiUrl: string;
  timeoutMs: number;
  /** Sees every answer (status and headers), successful or not: the rate-limit headers are read here. */
  onResponse?: (method: string, response: SuperagentResponse) => void;
}): FastlyClients {
  const apiClient = new ApiClient();
  const privateKeys = new TlsPrivateKeysApiClass(apiClient);
  const bulkCertificates = new TlsBulkCertificatesApiClass(apiClient);
  const configurations = new TlsConfigurationsApiClass(apiClient);
  apiClient.authenticate(options.apiToken);
  apiClient.timeout = options.timeoutMs;
  const target = options.apiUrl.replace(/\/+$/, '');
  apiClient.basePath = target;
  const plugins: Array<(request: SuperagentRequest) => void> = [];
  if (target !== FASTLY_DEFAULT_BASE) {
    plugins.push((request) => {
      if (request.url.startsWith(FASTLY_DEFAULT_BASE)) request.url = target + request.url.slice(FASTLY_DEFAULT_BASE.length);
    });
  }
  const { onResponse } = options;
  if (onResponse) plugins.push((request) => void request.on('response', (response) => onResponse(request.method, response)));
  apiClient.plugins = plugins.length > 0 ? plugins : null;
  return { apiClient, privateKeys, bulkCertificates, configurations };
}
