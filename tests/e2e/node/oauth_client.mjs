// node's openid-client (npm, v6) against `auth-service serve`, through its public API only:
// discovery, client_credentials, refresh, introspection and revocation. Prints one JSON object
// of what each step got; tests/e2e/test_oauth_clients.py judges it.
//
//   node tests/e2e/node/oauth_client.mjs ISSUER CLIENT_ID CLIENT_SECRET \
//       INTROSPECTOR_ID INTROSPECTOR_SECRET REFRESH_TOKEN
// CLIENT gets a machine token; INTROSPECTOR (granted the introspection scope) introspects it.
import * as client from "openid-client";

const [issuer, clientId, clientSecret, introspectorId, introspectorSecret, refreshToken] = process.argv.slice(2);
const report = {};
try {
  // serve listens on plain http on loopback: openid-client refuses that unless told (a deployed
  // issuer is https).
  const options = { execute: [client.allowInsecureRequests] };
  const config = await client.discovery(
    new URL(issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), options,
  );
  const metadata = config.serverMetadata();
  report.discovered = { issuer: metadata.issuer, token_endpoint: metadata.token_endpoint };

  const machine = await client.clientCredentialsGrant(config, { scope: "orders:read" });
  report.client_credentials = {
    token_type: machine.token_type, scope: machine.scope, expires_in: machine.expires_in,
    has_refresh_token: machine.refresh_token !== undefined, access_token: machine.access_token,
  };

  // Without the introspection scope: refused, with the RFC 6750 challenge openid-client reads.
  try {
    await client.tokenIntrospection(config, machine.access_token);
    report.introspection_without_scope = "accepted";
  } catch (error) {
    report.introspection_without_scope = error.cause?.[0]?.parameters?.error ?? error.code;
  }
  const introspector = await client.discovery(
    new URL(issuer), introspectorId, introspectorSecret, client.ClientSecretPost(introspectorSecret), options,
  );
  const introspected = await client.tokenIntrospection(introspector, machine.access_token);
  report.introspection = { active: introspected.active, sub: introspected.sub, token_type: introspected.token_type };

  // A user's session belongs to our public first-party client: refresh as that client.
  const user = await client.discovery(new URL(issuer), "lambda-jwt-auth", undefined, client.None(), options);
  const refreshed = await client.refreshTokenGrant(user, refreshToken);
  report.refresh = {
    token_type: refreshed.token_type, rotated: refreshed.refresh_token !== refreshToken,
    access_token: refreshed.access_token, refresh_token: refreshed.refresh_token,
  };
  await client.tokenRevocation(user, refreshed.refresh_token, { token_type_hint: "refresh_token" });
  report.revoked = true;
  try {
    await client.refreshTokenGrant(user, refreshed.refresh_token);
    report.after_revocation = "accepted";
  } catch (error) {
    report.after_revocation = error.error ?? error.code ?? String(error);
  }
} catch (error) {
  report.error = { name: error.name, code: error.code, error: error.error, message: error.message };
}
console.log(JSON.stringify(report));
