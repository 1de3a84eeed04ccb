// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "packages/*/dist/", "node_modules/", "coverage/", "docs/api/", "bench/.tmp/", "**/*.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js", "*.mjs", "packages/cli/bin/*.js"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error", // an unawaited promise hides a rejection or a leaked permit
      "@typescript-eslint/no-misused-promises": "error", // async callbacks where void is expected lose their errors
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/only-throw-error": "off", // close(reason) and abort reasons are user values by design
      "@typescript-eslint/prefer-promise-reject-errors": "off", // we reject with signal.reason, whatever it is
    },
  },
  {
    files: ["test/**", "bench/**", "examples/**", "scripts/**"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off", // tests poke at untyped peers and JSON
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/require-await": "off", // async callbacks in tests mirror user code
      "@typescript-eslint/no-empty-function": "off",
    },
  },
);
