/**
 * The Serverledge profile: Serverledge's HTTP API (grussorusso/serverledge cmd/serverledge/main.go)
 * on its default port 1323, so serverledge-cli and Serverledge clients work against a Tern node.
 */
import type { CompatProfile } from '../compat.js';
import { functionRoutes } from './function-routes.js';
import { invokeRoutes } from './invoke-routes.js';
import { installServerledgeErrors, notFoundRoute } from './replies.js';
import { workflowRoutes } from './workflow-routes.js';

export const SERVERLEDGE_DEFAULT_PORT = 1323;

export const serverledgeProfile: CompatProfile = {
  name: 'serverledge',
  defaultPort: SERVERLEDGE_DEFAULT_PORT,
  async register(app, deps) {
    // A scope of its own, so Serverledge's error replies replace the node's JSON ones.
    await app.register(async (scope) => {
      installServerledgeErrors(scope, deps.logger);
      invokeRoutes(scope, deps);
      functionRoutes(scope, deps);
      workflowRoutes(scope, deps);
      notFoundRoute(scope);
    });
  },
};
