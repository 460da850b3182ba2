// The dashboard's entry: routes, the login guard, the top bar.

import { api, session, whenUnauthorized } from './api.js';
import { flash } from './dom.js';
import { sampler } from './metrics.js';
import { createRouter } from './router.js';
import functionPage from './pages/function.js';
import functionsPage from './pages/functions.js';
import loginPage from './pages/login.js';
import nodesPage from './pages/nodes.js';
import workflowPage from './pages/workflow.js';
import workflowsPage from './pages/workflows.js';

const topbar = document.querySelector('.topbar');
const nodeName = document.querySelector('[data-testid=node-name]');

/** Where to go after logging in (the page the user asked for). */
let afterLogin = '/functions';

const router = createRouter({
  view: document.getElementById('view'),
  fallback: '/functions',
  routes: [
    { pattern: '/login', page: loginPage },
    { pattern: '/functions', page: functionsPage },
    { pattern: '/functions/:name', page: functionPage },
    { pattern: '/nodes', page: nodesPage },
    { pattern: '/workflows', page: workflowsPage },
    { pattern: '/workflows/:name', page: workflowPage },
  ],
  guard(path) {
    if (path === '/login') return session.token ? afterLogin : undefined;
    if (!session.token) {
      afterLogin = path;
      return '/login';
    }
    return undefined;
  },
});

/** Show the chrome of a logged-in session and start sampling metrics. */
async function enterSession() {
  topbar.hidden = false;
  sampler.start();
  try {
    const info = await api.info();
    nodeName.textContent = `${info.node} · v${info.version}`;
  } catch {
    nodeName.textContent = '';
  }
}

function leaveSession() {
  session.token = null;
  sampler.stop();
  topbar.hidden = true;
  nodeName.textContent = '';
}

document.addEventListener('tern:route', (e) => {
  const path = e.detail.path;
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', path.startsWith(a.dataset.nav));
  if (path === '/login') topbar.hidden = true;
});

document.addEventListener('tern:login', () => {
  void enterSession();
  const next = afterLogin;
  afterLogin = '/functions';
  router.go(next);
});

whenUnauthorized(() => {
  if (!session.token) return;
  afterLogin = router.current();
  leaveSession();
  flash('The node refused the token: please log in again.', 'error');
  router.go('/login');
});

document.querySelector('[data-testid=logout]').addEventListener('click', () => {
  leaveSession();
  router.go('/login');
});

if (session.token) void enterSession();
router.start();
