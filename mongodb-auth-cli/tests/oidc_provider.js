// A real OpenID provider for the human-flow tests: panva's oidc-provider (a certified
// implementation), on a free loopback port, with one public client that may use the
// authorization code flow (PKCE), the device authorization grant and refresh tokens, and JWT
// access tokens for one resource (the audience `mongodb-auth serve` checks).
//
// Usage: [DEVICE_CODE_TTL=SECONDS] node oidc_provider.js AUDIENCE SCOPE CLIENT_ID
// Prints {"issuer": "..."} once it listens, then one JSON line per grant it honours
// ({"grant": "<grant_type>"}), until it is killed.

const http = require("node:http");
const { default: Provider } = require("oidc-provider");

const [audience, scope, clientId] = process.argv.slice(2);

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        application_type: "native",
        token_endpoint_auth_method: "none",
        grant_types: [
          "authorization_code",
          "refresh_token",
          "urn:ietf:params:oauth:grant-type:device_code",
        ],
        response_types: ["code"],
        // A native client's loopback redirect may come back on any port (RFC 8252 7.3).
        redirect_uris: ["http://127.0.0.1/redirect"],
      },
    ],
    scopes: ["openid", "offline_access", scope],
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope,
          audience,
          accessTokenFormat: "jwt",
          accessTokenTTL: 3600,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    // A refresh token whenever offline_access is granted, with or without prompt=consent.
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed("refresh_token") && code.scopes.has("offline_access"),
    pkce: { required: () => true },
    // DEVICE_CODE_TTL (seconds) lets a test have a device code expire.
    ttl: { DeviceCode: Number(process.env.DEVICE_CODE_TTL ?? 600) },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id }),
    }),
  });
  provider.on("grant.success", (ctx) => {
    console.log(JSON.stringify({ grant: ctx.oidc.params.grant_type }));
  });
  server.on("request", provider.callback());
  console.log(JSON.stringify({ issuer }));
});
