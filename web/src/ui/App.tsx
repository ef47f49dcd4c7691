// Sign-in gate: the admin token is checked against the node (GET /api/v1/node) before
// the editor opens; a token the node refuses later brings the sign-in form back.
import { useEffect, useState } from 'preact/hooks';
import { Api, signInMessage } from '../api';
import type { NodeInfo } from '../types';
import { clearToken, storeToken, storedToken } from './session';
import { Shell } from './Shell';

export function App() {
  const [api, setApi] = useState<Api | null>(null);
  const [node, setNode] = useState<NodeInfo | null>(null);
  const [checking, setChecking] = useState(Boolean(storedToken()));
  const [message, setMessage] = useState<string | null>(null);

  async function signIn(token: string): Promise<void> {
    const candidate = new Api(token.trim());
    setChecking(true);
    setMessage(null);
    try {
      const info = await candidate.node();
      storeToken(candidate.token);
      setNode(info);
      setApi(candidate);
    } catch (e) {
      clearToken();
      setMessage(signInMessage(e));
    } finally {
      setChecking(false);
    }
  }

  useEffect(() => {
    const saved = storedToken();
    if (saved) void signIn(saved);
  }, []);

  function signOut(why?: string): void {
    clearToken();
    setApi(null);
    setNode(null);
    setMessage(why ?? null);
  }

  if (api && node) return <Shell api={api} node={node} onSignOut={signOut} />;
  return <SignIn busy={checking} message={message} onSubmit={signIn} />;
}

function SignIn(props: { busy: boolean; message: string | null; onSubmit: (token: string) => void }) {
  const [token, setToken] = useState('');
  return (
    <div class="signin">
      <form
        data-testid="signin-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) props.onSubmit(token);
        }}
      >
        <h1>AMI Editor</h1>
        <div class="muted">
          Sign in with the node's admin token: <code>data/&lt;node&gt;/admin.token</code> (or the token in the config).
        </div>
        <input
          data-testid="signin-token"
          type="password"
          autoComplete="current-password"
          placeholder="Admin token"
          value={token}
          autoFocus
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        {props.message && (
          <div class="error-text" role="alert" data-testid="signin-error">
            {props.message}
          </div>
        )}
        <div class="row">
          <button class="primary" type="submit" data-testid="signin-submit" disabled={props.busy || !token.trim()}>
            {props.busy ? 'Checking…' : 'Sign in'}
          </button>
        </div>
      </form>
    </div>
  );
}
