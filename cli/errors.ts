/** A mistake the user can fix (bad path, bad option): printed as one line, exit code 2. */
export class UserError extends Error {
  override name = 'UserError';
}
