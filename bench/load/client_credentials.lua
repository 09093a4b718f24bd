-- wrk script: client-credentials grants by a confidential client (form client_id/client_secret).
-- Usage: wrk ... -s client_credentials.lua URL/oauth2/token -- CLIENT_ID CLIENT_SECRET

function init(args)
  body = "grant_type=client_credentials&client_id=" .. args[1] .. "&client_secret=" .. args[2]
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  return wrk.format("POST", nil, headers, body)
end
