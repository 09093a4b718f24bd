-- wrk script: refresh-token grants against the issuer, each refresh token used exactly once.
--
-- Refresh tokens rotate: a token that was used once is spent, and presenting it again revokes
-- its whole family. So each wrk thread starts with its own share of fresh tokens (one per
-- connection, from a file of tokens obtained by password grants) and keeps the pool alive by
-- putting back the new refresh token of every successful response. A connection holds one
-- token at a time, so the pool never runs dry unless a request is lost (a timeout): then the
-- request goes out with a token that cannot exist, is answered invalid_grant and is counted by
-- wrk as a non-2xx response. No token is ever sent twice.
--
-- Usage: wrk -tT -cC ... -s refresh.lua URL/oauth2/token -- TOKENS_FILE T CLIENT_ID

local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  tokens = {}
  local threads = tonumber(args[2])
  client_id = args[3]
  local i = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if i % threads == id - 1 then
        table.insert(tokens, line)
      end
      i = i + 1
    end
  end
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  local token = table.remove(tokens)
  if token == nil then
    token = "pool-exhausted"
  end
  return wrk.format("POST", nil, headers,
    "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token)
end

function response(status, _, body)
  if status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
      table.insert(tokens, token)
    end
  end
end
