'use strict';

// Serverless Framework v3 validates serverless.yml against a JSON schema whose Lambda runtime
// list stops at python3.11, so `runtime: python3.12` printed "Invalid configuration ...
// provider.runtime" on every command. Lambda supports python3.12 and python3.13 today, and the
// framework passes the runtime through to CloudFormation unchanged, so the only thing that is
// out of date is the schema. This plugin adds those two runtimes to the framework's runtime enum
// (and nothing else), which lets serverless.yml set `configValidationMode: error`: any OTHER
// schema mistake now fails `serverless package` / `deploy` instead of scrolling past as a warning.
//
// Validation runs after all plugins are constructed, so extending the schema in the constructor
// is enough. If a framework upgrade moves the definition, fail loudly rather than silently
// falling back to warnings.

const ADDED_RUNTIMES = ['python3.12', 'python3.13'];

class PythonRuntimesPlugin {
  constructor(serverless) {
    const handler = serverless.configSchemaHandler;
    const definition =
      handler && handler.schema && handler.schema.definitions
        ? handler.schema.definitions.awsLambdaRuntime
        : undefined;
    if (!definition || !Array.isArray(definition.enum)) {
      throw new Error(
        'deploy/plugins/python-runtimes.js: the framework no longer defines ' +
          'definitions.awsLambdaRuntime.enum; check whether this plugin is still needed.'
      );
    }
    for (const runtime of ADDED_RUNTIMES) {
      if (!definition.enum.includes(runtime)) definition.enum.push(runtime);
    }
  }
}

module.exports = PythonRuntimesPlugin;
