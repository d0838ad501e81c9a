// The person of the human-flow tests, with a browser that follows redirects, keeps cookies and
// submits forms: at the provider's login page they sign in as LOGIN (any password), they
// consent, and for the device flow they enter the code they were shown. It stops when the
// browser is sent back with the authorization response (requested, as a browser would) or at
// a page with no form (the device flow's success page). The first page may be the program's
// own (mongosh's redirects to the provider).
//
// Usage: node oidc_person.js LOGIN URL [USER_CODE]
// As `connect --browser`, the command line ends with the URL.

const [login, startUrl, userCode] = process.argv.slice(2);
const cookies = new Map();

function cookieHeader() {
  return [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
}

function keepCookies(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const at = pair.indexOf("=");
    cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
}

function attribute(tag, name) {
  const match = tag.match(new RegExp(`${name}="([^"]*)"`));
  return match ? match[1].replaceAll("&amp;", "&") : undefined;
}

/// The first form of a page: its action and the fields a person fills in or leaves as they are.
function readForm(html, base) {
  const open = html.match(/<form[^>]*>/);
  if (!open) return undefined;
  const body = html.slice(open.index, html.indexOf("</form>", open.index));
  const fields = new URLSearchParams();
  for (const [input] of body.matchAll(/<input[^>]*>/g)) {
    const name = attribute(input, "name");
    if (!name) continue;
    const value = {
      login,
      password: "any password",
      user_code: userCode,
    }[name] ?? attribute(input, "value") ?? "";
    fields.append(name, value);
  }
  return { action: new URL(attribute(open[0], "action") ?? base, base), fields };
}

async function main() {
  let request = { url: new URL(startUrl), method: "GET" };
  for (let step = 0; step < 30; step += 1) {
    const query = request.url.searchParams;
    if (query.has("state") && (query.has("code") || query.has("error"))) {
      // The authorization response, back at the program's redirect URI: the program's own
      // pages from here (mongosh sends the browser on to a success page), followed as a
      // browser follows them.
      const done = await fetch(request.url);
      process.exit(done.ok ? 0 : 3);
    }
    const response = await fetch(request.url, {
      method: request.method,
      body: request.body,
      redirect: "manual",
      headers: {
        cookie: cookieHeader(),
        ...(request.body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
    });
    keepCookies(response);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      request = { url: new URL(location, request.url), method: "GET" };
      continue;
    }
    const html = await response.text();
    const form = readForm(html, request.url);
    if (!form) {
      // No form left: the provider's last page (the device flow's success).
      process.exit(response.ok ? 0 : 4);
    }
    request = { url: form.action, method: "POST", body: form.fields.toString() };
  }
  console.error("the person gave up after 30 pages");
  process.exit(5);
}

main().catch((error) => {
  console.error(error);
  process.exit(6);
});
