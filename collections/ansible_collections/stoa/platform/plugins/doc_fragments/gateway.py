# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How every stoa.platform gateway module reaches the webMethods API Gateway admin API.
    DOCUMENTATION = r"""
options:
  gateway_url:
    description:
      - Base URL of the webMethods API Gateway, for example C(https://gateway.example:5555).
        C(/rest/apigateway) is added when missing.
      - If not set, the value of the E(STOA_GATEWAY_URL) environment variable is used.
    type: str
  gateway_username:
    description:
      - User for HTTP Basic authentication. Ignored when O(gateway_token) is set.
      - If not set, the value of the E(STOA_GATEWAY_USERNAME) environment variable is used.
    type: str
  gateway_password:
    description:
      - Password of O(gateway_username).
      - If not set, the value of the E(STOA_GATEWAY_PASSWORD) environment variable is used.
    type: str
  gateway_token:
    description:
      - Bearer token, for a gateway behind a proxy that takes tokens. Takes precedence over Basic authentication.
      - If not set, the value of the E(STOA_GATEWAY_TOKEN) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify the gateway's TLS certificate. Only switch this off for a test gateway.
      - If not set, the value of the E(STOA_GATEWAY_VALIDATE_CERTS) environment variable is used, else V(true).
    type: bool
  timeout:
    description:
      - Seconds to wait for each HTTP response.
    type: int
    default: 30
  retries:
    description:
      - How many times a request is repeated after a connection failure or an HTTP 502, 503 or 504,
        with exponential backoff. A POST is only repeated when it cannot have reached the gateway
        (connection refused, 503).
    type: int
    default: 3
notes:
  - The modules speak the admin REST API of webMethods API Gateway 10.15 (C(/rest/apigateway)) and cope with
    the envelope and status differences between its swagger files and what a live gateway answers.
  - All gateway modules are in the C(stoa.platform.gateway) action group, for C(module_defaults).
"""
