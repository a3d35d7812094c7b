'use strict';

// The `allowedOrigins` param (comma-separated, as the functions read AUTH_ALLOWED_ORIGINS) as the
// list httpApi.cors.allowedOrigins needs: one setting for both, so they cannot drift apart.
// The framework (osls) calls this for `${file(./deploy/allowed-origins.js)}`. The functions validate
// each origin at cold start (authorizer/config.py); here they are only split.
module.exports = async ({ resolveVariable }) => {
  const raw = await resolveVariable('param:allowedOrigins');
  return String(raw || '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin.length > 0);
};
