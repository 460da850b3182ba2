/**
 * The UniFaaS profile: UniFaaS's invocation API (`/invoke/{function}/{path}` on port 8123). Its
 * registry folder of function.toml files loads with `tern serve --registry DIR`; see docs/compat.md#unifaas.
 */
import type { CompatProfile } from '../compat.js';
import { installUnifaasErrors, unifaasRoutes } from './routes.js';

/** UniFaaS's proxy port (PROXY_PORT in its src/main.rs). */
export const UNIFAAS_DEFAULT_PORT = 8123;

export const unifaasProfile: CompatProfile = {
  name: 'unifaas',
  defaultPort: UNIFAAS_DEFAULT_PORT,
  async register(app, deps) {
    await app.register(async (scope) => {
      installUnifaasErrors(scope, (err) =>
        deps.logger.error({ event: 'unifaas_error', err }, 'UniFaaS API request failed'),
      );
      unifaasRoutes(scope, deps);
    });
  },
};
