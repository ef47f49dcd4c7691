// The admin token of this tab. sessionStorage: it survives a reload of the page but not
// the closing of the tab, and other tabs or sites never see it.
const KEY = 'ami.adminToken';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}
export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}
export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}
