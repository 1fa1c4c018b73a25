// Password hashing (argon2id) and the password policy.
import { hash, verify } from '@node-rs/argon2';

// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. Algorithm 2 is argon2id (the const enum is
// not importable under isolated modules).
const OPTIONS = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** Why a new password is refused, or undefined. */
export function passwordProblem(password: string, email: string, name: string): string | undefined {
  if (password.length < MIN_PASSWORD) return `must be at least ${MIN_PASSWORD} characters`;
  if (password.length > MAX_PASSWORD) return `must be at most ${MAX_PASSWORD} characters`;
  if (new Set(password).size < 5) return 'must use at least 5 different characters';
  const lower = password.toLowerCase();
  const local = email.split('@')[0]!.toLowerCase();
  if ((local.length >= 4 && lower.includes(local)) || (name.length >= 4 && lower.includes(name.toLowerCase()))) return 'must not contain your name or email';
  return undefined;
}
