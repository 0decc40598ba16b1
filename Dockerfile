# One image for the API and both workers (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md* ./
COPY shared ./shared
COPY services ./services
COPY workers ./workers
RUN pip install --no-cache-dir -e .
ENV DISTILLERY_DATA_DIR=/data
EXPOSE 8000
CMD ["distillery", "up", "--host", "0.0.0.0"]
