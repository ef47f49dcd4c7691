// Dark/light theme: the user's last choice (localStorage), else the system's.
export type Theme = 'light' | 'dark';
const KEY = 'ami.theme';

export function initialTheme(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(t: Theme): void {
  document.documentElement.dataset.theme = t;
}

export function saveTheme(t: Theme): void {
  localStorage.setItem(KEY, t);
  applyTheme(t);
}
