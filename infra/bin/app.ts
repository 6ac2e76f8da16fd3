import { createFlambdaApp } from '../lib/app.js';
import { SettingsError } from '../lib/settings.js';

try {
  createFlambdaApp().app.synth();
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(error.message);
  process.exit(1);
}
