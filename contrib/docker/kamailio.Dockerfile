# Kamailio 5.6 running the portal's call authorization (contrib/kamailio/): the `sip` profile of
# docker-compose.yml. Debian's packages: the proxy, its Python 3 modules (app_python3, the KEMI
# script) and utils modules. Build from the repository's root:
#   docker build -f contrib/docker/kamailio.Dockerfile -t credits-portal-kamailio .
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        kamailio kamailio-python3-modules kamailio-utils-modules \
    && rm -rf /var/lib/apt/lists/*
# The path kamailio.cfg's KSR_SCRIPT names by default. The operator's mapping file and key
# files are mounted at /etc/kamailio/site/ (docker-compose.yml).
COPY contrib/kamailio/ /etc/kamailio/credits_portal/
# The retry queue (usage records not yet accepted by the portal) and the runtime directory;
# docker-compose.yml keeps the queue on a volume, so a record outlives the container.
RUN mkdir -p /var/spool/kamailio/credits /run/kamailio \
    && chown -R kamailio:kamailio /var/spool/kamailio /run/kamailio
ENV CREDITS_PORTAL_SPOOL=/var/spool/kamailio/credits \
    CREDITS_PORTAL_MAPPING=/etc/kamailio/site/mapping.json
EXPOSE 5060/udp
# In the foreground, logging to stderr, as the kamailio user. SIP_LISTEN (optional) is
# Kamailio's -l, e.g. udp:10.0.0.5:5060/203.0.113.5:5060 (an address of this host and the public
# one callers reach it at); unset, it listens on every interface, port 5060. SHM_MEMORY is in MB
# (dialogs and transactions live there).
CMD ["sh", "-c", "exec kamailio -DD -E -u kamailio -g kamailio -m \"${SHM_MEMORY:-256}\" -f /etc/kamailio/credits_portal/kamailio.cfg ${SIP_LISTEN:+-l \"$SIP_LISTEN\"}"]
